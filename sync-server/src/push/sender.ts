/**
 * One Web Push attempt, as the webhook queue's `deliver` (webhooks/options.ts): the queued
 * notification names a user and one of their devices; the `web-push` package encrypts the
 * payload to that device (RFC 8291) and signs the request with the server's VAPID key,
 * with an urgency from the message priority and a TTL. A push service answering 404 or
 * 410 says the subscription is gone: it is deleted and the notification is done with. Any
 * other failure is returned, so the queue retries with its backoff and dead-letters at
 * the end.
 *
 * The POST itself is made here (post-request.ts), not by web-push's sendNotification,
 * which keeps every byte of the answer and has only an idle timeout: an endpoint is
 * chosen by a user, and one that answers slowly and at length must not hold the server.
 */
import webpush from 'web-push'
import type { Priority } from '../webhooks/dispatcher.ts'
import type { Deliver } from '../webhooks/options.ts'
import type { PushOutcome } from './metrics.ts'
import type { ResolvedPushOptions } from './options.ts'
import { pushPayload } from './payload.ts'
import { postPush } from './post-request.ts'
import type { PushSubscriptionStore } from './subscriptions.ts'
import type { VapidKeys } from './vapid.ts'

const URGENCY: Record<Priority, webpush.Urgency> = { high: 'high', normal: 'normal', low: 'low' }

export interface SenderContext {
  store: PushSubscriptionStore
  vapid: VapidKeys
  options: ResolvedPushOptions
  log: { info(obj: object, msg: string): void }
  /** Told each request's outcome (metrics.ts). */
  counted?: (outcome: PushOutcome) => void
}

export function pushSender({ store, vapid, options, log, counted = () => undefined }: SenderContext): Deliver {
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
      const request = webpush.generateRequestDetails({ endpoint: device.endpoint, keys: device.keys }, JSON.stringify(pushPayload(n)), {
        vapidDetails,
        TTL: options.ttlSeconds,
        urgency: URGENCY[n.priority] ?? 'normal',
      })
      const status = await postPush(request, { timeoutMs: options.timeoutMs, ...(options.agent && { agent: options.agent }) })
      if (status >= 200 && status < 300) return void counted('sent')
      if (status === 404 || status === 410) {
        counted('gone')
        await store.remove(user, id).catch(() => undefined)
        log.info({ user, device: id, status }, 'push subscription gone: deleted')
        return undefined
      }
      counted('failed')
      return `HTTP ${status}`
    } catch (error) {
      counted('failed')
      const failure = error as Error & { code?: string }
      return failure.name === 'AbortError' || failure.name === 'TimeoutError' ? `timed out after ${options.timeoutMs} ms` : (failure.code ?? failure.message ?? String(error))
    }
  }
}
