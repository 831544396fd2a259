/**
 * Who hears about a new message by webhook: the conversation's members other than its
 * author with no device connected (to any node: cluster/presence.ts) when the server
 * numbers it. One notification per message, listing those members, at the message's
 * priority, queued under a key of the message alone (`notificationKey`): handed the same
 * message twice (events/notifications.ts hands over again what a node numbered and may not
 * have queued), the queue holds one notification and a receiver that deduplicates on `id`
 * acts once. Web Push picks its recipients the same way (push/offline-devices.ts).
 */
import type { ParleyEvent } from '@parley/core'
import type { AccessRegistry } from '../access/registry.ts'
import type { SequencedEvent } from '../events/event-index.ts'
import type { Notifications } from '../events/notifications.ts'
import { notificationKey, type WebhookQueue } from './dispatcher.ts'

/** Which of these users are connected to the cluster now (cluster/presence.ts onlineAnywhere). */
export type OnlineOf = (users: readonly string[]) => Promise<ReadonlySet<string>>

export type MessageEvent = Extract<ParleyEvent, { type: 'message' }>

export interface OfflineMembersContext {
  notifications: Pick<Notifications, 'add'>
  registry: AccessRegistry
  dispatcher: WebhookQueue
  online: OnlineOf
}

export function notifyOfflineMembers({ notifications, registry, dispatcher, online }: OfflineMembersContext): void {
  // Newly numbered events, each numbered by one node: only that node queues its webhook (or whichever node takes over).
  notifications.add(async (conversationId, events) => {
    const offline = await offlineRecipients(registry, online, conversationId, events)
    await Promise.all(offline.map(({ seq, event, recipients }) => dispatcher.enqueue({ conversationId, seq, event: { ...event }, recipients, priority: event.priority ?? 'normal', key: notificationKey(conversationId, seq) })))
  })
}

/** The messages among `events`, each with the members other than its author connected to no node; those with none are left out. */
export async function offlineRecipients(registry: AccessRegistry, online: OnlineOf, conversationId: string, events: readonly SequencedEvent[]): Promise<{ seq: number; event: MessageEvent; recipients: string[] }[]> {
  const messages = events.flatMap(({ seq, event }) => (event.type === 'message' ? [{ seq, event }] : []))
  if (messages.length === 0) return []
  const members = await membersOf(registry, conversationId)
  const connected = await online(members)
  return messages
    .map(({ seq, event }) => ({ seq, event, recipients: members.filter(member => member !== event.author && !connected.has(member)) }))
    .filter(({ recipients }) => recipients.length > 0)
}

/** The conversation's members, its entry read first when the registry does not hold it (events handed over after a restart). */
async function membersOf(registry: AccessRegistry, conversationId: string): Promise<string[]> {
  let members = registry.membersOf(conversationId)
  if (members === undefined) {
    await registry.entry(conversationId)
    members = registry.membersOf(conversationId)
  }
  return Object.keys(members ?? {})
}
