/**
 * One conversation: header, timeline, typing indicator, composer. It marks the
 * conversation read while it is on screen.
 */
import type { Conversation } from '@parley/client'
import { useEffect, useState } from 'preact/hooks'
import { useConversation, useHead, useTimeline } from '@parley/react'
import { conversationTitle } from '../../data/names.ts'
import { useServices } from '../services.ts'
import { Composer } from './composer.tsx'
import { ConversationHeader } from './header.tsx'
import { Timeline } from './timeline.tsx'
import { TypingIndicator } from './typing-indicator.tsx'

export function ConversationView({ id }: { id: string }) {
  const opening = useConversation(id)
  if (opening.state === 'open') return <OpenConversation conversation={opening.conversation} />
  return (
    <div class="pane-status" role="status">
      {opening.state === 'opening' ? (
        <p>Opening the conversation…</p>
      ) : (
        <p>This conversation is not on this device yet, and the server did not send it. It opens as soon as you are online and a member.</p>
      )}
    </div>
  )
}

function OpenConversation({ conversation }: { conversation: Conversation }) {
  const { user } = useServices()
  const timeline = useTimeline(conversation.id)
  // Defined once the conversation is open, which it is here.
  const head = useHead(conversation.id) ?? conversation.head()
  const [editing, setEditing] = useState<string>()
  useMarkRead(conversation, timeline.at(-1)?.id)
  const title = conversationTitle(head, user)
  return (
    <section class="conversation" aria-label={title}>
      <ConversationHeader conversation={conversation} head={head} title={title} />
      <Timeline conversation={conversation} timeline={timeline} head={head} editing={editing} setEditing={setEditing} />
      <TypingIndicator conversation={conversation} />
      <Composer conversation={conversation} title={title} timeline={timeline} onEditLast={setEditing} />
    </section>
  )
}

/** While the page is visible, moves the read cursor to the newest message whenever others wrote something unread. */
function useMarkRead(conversation: Conversation, newest: string | undefined): void {
  const [visible, setVisible] = useState(document.visibilityState === 'visible')
  useEffect(() => {
    const update = (): void => setVisible(document.visibilityState === 'visible')
    document.addEventListener('visibilitychange', update)
    return () => document.removeEventListener('visibilitychange', update)
  }, [])
  // Read on every render (each change re-renders): a merge can change the count without a new newest message.
  const unread = conversation.unreadCount()
  useEffect(() => {
    if (visible && newest && unread > 0) void conversation.markRead(newest)
  }, [conversation, newest, unread, visible])
}
