/**
 * Who gets a Web Push for a new message: each device of each member other than its
 * author with no device connected when the server numbers it (as webhooks/offline-members.ts
 * decides for webhooks). One queued notification per device, so a push service failing
 * for one device retries that device alone.
 */
import type { AccessRegistry } from '../access/registry.ts'
import type { EventIndex } from '../events/event-index.ts'
import type { WebhookQueue } from '../webhooks/dispatcher.ts'
import { pushEvent } from './payload.ts'
import type { PushSubscriptionStore } from './subscriptions.ts'

export interface OfflineDevicesContext {
  index: EventIndex
  registry: AccessRegistry
  queue: WebhookQueue
  store: PushSubscriptionStore
  isOnline: (user: string) => boolean
  /** The conversation's title as `member` may read it; undefined when it has none or it cannot be read now. */
  title: (conversationId: string, member: string) => Promise<string | undefined>
  /** Put the text in the payload (`--push-text`). */
  text: boolean
  log: { warn(obj: object, msg: string): void }
}

export function pushToOfflineDevices(ctx: OfflineDevicesContext): void {
  const { index, registry, isOnline, log } = ctx
  // 'numbered', not 'stored': in a cluster only the node that numbered an event queues its pushes.
  index.on('numbered', (conversationId, events) => {
    const members = Object.keys(registry.membersOf(conversationId) ?? {})
    for (const { seq, event } of events) {
      if (event.type !== 'message') continue
      const recipients = members.filter(member => member !== event.author && !isOnline(member))
      if (recipients.length === 0) continue
      enqueue(ctx, conversationId, seq, event, recipients).catch(error => log.warn({ err: error, conversationId, seq }, 'could not queue push notifications'))
    }
  })
}

async function enqueue(ctx: OfflineDevicesContext, conversationId: string, seq: number, event: { id: string; author: string; at: number; text?: string; priority?: 'high' | 'normal' | 'low' }, recipients: string[]): Promise<void> {
  const targets = (await Promise.all(recipients.map(async user => (await ctx.store.devices(user)).map(device => ({ user, device: device.id }))))).flat()
  if (targets.length === 0) return
  const title = await ctx.title(conversationId, event.author).catch(() => undefined)
  const queued = pushEvent(event, title, ctx.text) as unknown as Record<string, unknown>
  const priority = event.priority ?? 'normal'
  await Promise.all(targets.map(({ user, device }) => ctx.queue.enqueue({ conversationId, seq, event: queued, recipients: [user], priority, target: device })))
}
