/**
 * Who gets a Web Push for a new message: each device of each member other than its
 * author with no device connected (to any node: cluster/presence.ts) when the server
 * numbers it (as webhooks/offline-members.ts decides for webhooks). One queued
 * notification per device, so a push service failing for one device retries that device
 * alone; its ID is the event's and the device's (webhooks/dispatcher.ts notificationKey),
 * so a message handed over twice (events/notifications.ts) queues each device's push once.
 */
import type { AccessRegistry } from '../access/registry.ts'
import type { Notifications } from '../events/notifications.ts'
import { notificationKey, type WebhookQueue } from '../webhooks/dispatcher.ts'
import { offlineRecipients, type MessageEvent, type OnlineOf } from '../webhooks/offline-members.ts'
import { pushEvent } from './payload.ts'
import type { PushSubscriptionStore } from './subscriptions.ts'

export interface OfflineDevicesContext {
  notifications: Pick<Notifications, 'add'>
  registry: AccessRegistry
  queue: WebhookQueue
  store: PushSubscriptionStore
  online: OnlineOf
  /** The conversation's title as `member` may read it; undefined when it has none or it cannot be read now. */
  title: (conversationId: string, member: string) => Promise<string | undefined>
  /** Put the text in the payload (`--push-text`). */
  text: boolean
}

export function pushToOfflineDevices(ctx: OfflineDevicesContext): void {
  const { notifications, registry } = ctx
  // Newly numbered events, each numbered by one node: only that node queues its pushes (or whichever node takes over).
  notifications.add(async (conversationId, events) => {
    const offline = await offlineRecipients(registry, ctx.online, conversationId, events)
    await Promise.all(offline.map(({ seq, event, recipients }) => enqueue(ctx, conversationId, seq, event, recipients)))
  })
}

async function enqueue(ctx: OfflineDevicesContext, conversationId: string, seq: number, event: MessageEvent, recipients: string[]): Promise<void> {
  const targets = (await Promise.all(recipients.map(async user => (await ctx.store.devices(user)).map(device => ({ user, device: device.id }))))).flat()
  if (targets.length === 0) return
  const title = await ctx.title(conversationId, event.author).catch(() => undefined)
  const queued = pushEvent(event, title, ctx.text) as unknown as Record<string, unknown>
  const priority = event.priority ?? 'normal'
  await Promise.all(targets.map(({ user, device }) => ctx.queue.enqueue({ conversationId, seq, event: queued, recipients: [user], priority, target: device, key: notificationKey(conversationId, seq, device) })))
}
