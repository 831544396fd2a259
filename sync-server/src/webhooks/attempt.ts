/** One signed POST of a queued notification: the part both queues (LevelDB, PostgreSQL) share. */
import type { QueuedNotification } from './dispatcher.ts'
import { DELIVERY_HEADER, SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER } from './signature.ts'

/** POSTs attempt number `attempt` of `n`; resolves with why it failed, or undefined when the receiver took it. */
export async function attemptDelivery(settings: { url: string; secret: string; timeoutMs: number }, n: QueuedNotification, attempt: number): Promise<string | undefined> {
  const { id, conversationId, seq, event, recipients, priority } = n
  const body = JSON.stringify({ id, conversationId, seq, event, recipients, priority, attempt })
  const timestamp = Date.now()
  try {
    const response = await fetch(settings.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [TIMESTAMP_HEADER]: String(timestamp),
        [SIGNATURE_HEADER]: signWebhook(settings.secret, timestamp, body),
        [DELIVERY_HEADER]: id,
      },
      body,
      signal: AbortSignal.timeout(settings.timeoutMs),
    })
    // Drain the body so the connection returns to the pool.
    await response.arrayBuffer().catch(() => undefined)
    return response.ok ? undefined : `HTTP ${response.status}`
  } catch (cause) {
    return (cause as Error).name === 'TimeoutError' ? `timed out after ${settings.timeoutMs} ms` : failureReason(cause)
  }
}

function failureReason(cause: unknown): string {
  const error = cause as Error & { cause?: { code?: string; message?: string } }
  // fetch wraps socket errors as "fetch failed"; the useful part is the cause.
  return error.cause?.code ?? error.cause?.message ?? error.message ?? String(cause)
}
