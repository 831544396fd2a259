/**
 * Who hears about a new message by webhook: the conversation's members other than its
 * author with no device connected when the server numbers it. One notification per
 * message, listing those members, at the message's priority.
 */
import type { AccessRegistry } from '../access/registry.ts'
import type { EventIndex } from '../events/event-index.ts'
import type { WebhookQueue } from './dispatcher.ts'

export interface OfflineMembersContext {
  index: EventIndex
  registry: AccessRegistry
  dispatcher: WebhookQueue
  isOnline: (user: string) => boolean
  log: { warn(obj: object, msg: string): void }
}

export function notifyOfflineMembers({ index, registry, dispatcher, isOnline, log }: OfflineMembersContext): void {
  // 'numbered', not 'stored': nodes sharing a database hear of each event, but only the node that numbered it queues its webhook.
  index.on('numbered', (conversationId, events) => {
    const members = Object.keys(registry.membersOf(conversationId) ?? {})
    for (const { seq, event } of events) {
      if (event.type !== 'message') continue
      const recipients = members.filter(member => member !== event.author && !isOnline(member))
      if (recipients.length === 0) continue
      dispatcher
        .enqueue({ conversationId, seq, event: { ...event }, recipients, priority: event.priority ?? 'normal' })
        .catch(error => log.warn({ err: error, conversationId, seq }, 'could not queue a webhook'))
    }
  })
}
