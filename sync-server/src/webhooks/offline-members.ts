/**
 * Who hears about a new message by webhook: the conversation's members other than its
 * author with no device connected (to any node: cluster/presence.ts) when the server
 * numbers it. One notification per message, listing those members, at the message's
 * priority, queued under a key of the message alone (`notificationKey`): handed the same message twice (events/notifications.ts
 * hands over again what a node numbered and may not have queued), the queue holds one
 * notification and a receiver that deduplicates on `id` acts once.
 */
import type { AccessRegistry } from '../access/registry.ts'
import type { Notifications } from '../events/notifications.ts'
import { notificationKey, type WebhookQueue } from './dispatcher.ts'

export interface OfflineMembersContext {
  notifications: Pick<Notifications, 'add'>
  registry: AccessRegistry
  dispatcher: WebhookQueue
  /** Which of these users are connected to the cluster now (cluster/presence.ts onlineAnywhere). */
  online: (users: readonly string[]) => Promise<ReadonlySet<string>>
}

export function notifyOfflineMembers({ notifications, registry, dispatcher, online: onlineOf }: OfflineMembersContext): void {
  // Newly numbered events, each numbered by one node: only that node queues its webhook (or whichever node takes over).
  notifications.add(async (conversationId, events) => {
    if (!events.some(({ event }) => event.type === 'message')) return
    const members = await membersOf(registry, conversationId)
    const online = await onlineOf(members)
    const queued: Promise<string>[] = []
    for (const { seq, event } of events) {
      if (event.type !== 'message') continue
      const recipients = members.filter(member => member !== event.author && !online.has(member))
      if (recipients.length === 0) continue
      queued.push(dispatcher.enqueue({ conversationId, seq, event: { ...event }, recipients, priority: event.priority ?? 'normal', key: notificationKey(conversationId, seq) }))
    }
    await Promise.all(queued)
  })
}

/** The conversation's members, its entry read first when the registry does not hold it (events handed over after a restart). */
export async function membersOf(registry: AccessRegistry, conversationId: string): Promise<string[]> {
  let members = registry.membersOf(conversationId)
  if (members === undefined) {
    await registry.entry(conversationId)
    members = registry.membersOf(conversationId)
  }
  return Object.keys(members ?? {})
}
