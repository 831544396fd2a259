/**
 * One Web Push attempt, as the webhook queue's `deliver` (webhooks/options.ts): the queued
 * notification names a user and one of their devices; the payload is encrypted to that
 * device and sent with the server's VAPID signature by the `web-push` package, with an
 * urgency from the message priority and a TTL. A push service answering 404 or 410 says
 * the subscription is gone: it is deleted and the notification is done with. Any other
 * failure is returned, so the queue retries with its backoff and dead-letters at the end.
 */
import webpush from 'web-push'
import type { Deliver } from '../webhooks/options.ts'
import type { Priority } from '../webhooks/dispatcher.ts'
import type { ResolvedPushOptions } from './options.ts'
import { pushPayload } from './payload.ts'
import type { PushSubscriptionStore } from './subscriptions.ts'
import type { VapidKeys } from './vapid.ts'

const URGENCY: Record<Priority, webpush.Urgency> = { high: 'high', normal: 'normal', low: 'low' }

export interface SenderContext {
  store: PushSubscriptionStore
  vapid: VapidKeys
  options: ResolvedPushOptions
  log: { info(obj: object, msg: string): void }
}

export function pushSender({ store, vapid, options, log }: SenderContext): Deliver {
  const vapidDetails = { subject: options.vapidSubject, publicKey: vapid.publicKey, privateKey: vapid.privateKey }
  return async n => {
    const user = n.recipients[0]
    const id = n.target
    // Not a push (no device named): nothing to send.
    if (user === undefined || id === undefined) return undefined
    try {
      const device = await store.device(user, id)
      // Unsubscribed since it was queued.
      if (!device) return undefined
      await webpush.sendNotification({ endpoint: device.endpoint, keys: device.keys }, JSON.stringify(pushPayload(n)), {
        vapidDetails,
        TTL: options.ttlSeconds,
        urgency: URGENCY[n.priority] ?? 'normal',
        timeout: options.timeoutMs,
        ...(options.agent && { agent: options.agent }),
      })
      return undefined
    } catch (error) {
      if (error instanceof webpush.WebPushError) {
        if (error.statusCode === 404 || error.statusCode === 410) {
          await store.remove(user, id).catch(() => undefined)
          log.info({ user, device: id, status: error.statusCode }, 'push subscription gone: deleted')
          return undefined
        }
        return `HTTP ${error.statusCode}`
      }
      const failure = error as Error & { code?: string }
      return failure.code ?? failure.message ?? String(error)
    }
  }
}
