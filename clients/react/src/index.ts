export { ParleyContext, ParleyProvider, useClient } from './context.ts'
export { useStatus, useConversations } from './client-hooks.ts'
export { useConversation, useTimeline, useHead, useTyping, type Opening } from './conversation-hooks.ts'
export { ReactErrorCodes } from './errors.ts'
