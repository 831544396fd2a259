/**
 * Webhook signatures, shared by the sender (the dispatcher) and receivers.
 *
 * A delivery carries `X-Parley-Timestamp: <unix ms>` and
 * `X-Parley-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`. The timestamp is
 * signed with the body so a captured request cannot be replayed later with a fresh
 * timestamp; receivers refuse timestamps older (or newer) than a tolerance.
 *
 * Receiver example (verify the raw bytes, not a re-serialised JSON object: key order and
 * whitespace would change the signature):
 *
 *   const raw = await readRawBody(request)
 *   if (!verifyWebhook(secret, request.headers, raw)) return reply.code(401).send()
 *   const { id, attempt, event } = JSON.parse(raw)   // `id` repeats on retries: deduplicate on it
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

export const TIMESTAMP_HEADER = 'x-parley-timestamp'
export const SIGNATURE_HEADER = 'x-parley-signature'
export const DELIVERY_HEADER = 'x-parley-delivery'

/** Five minutes: generous for clock skew and slow receivers, short for replays. */
export const DEFAULT_TOLERANCE_MS = 5 * 60_000

/** The `X-Parley-Signature` header value: `sha256=<hex>`. */
export function signWebhook(secret: string, timestamp: number, body: string | Uint8Array): string {
  const hmac = createHmac('sha256', secret).update(`${timestamp}.`).update(body)
  return `sha256=${hmac.digest('hex')}`
}

/** Node's `IncomingHttpHeaders`, a fetch `Headers`, or any record of header values. */
export type HeaderSource = Headers | Record<string, string | string[] | undefined>

/**
 * True when `body` (the raw request body) was signed with `secret` and its timestamp is
 * within `toleranceMs` of now. Never throws on malformed input: it answers false.
 */
export function verifyWebhook(secret: string, headers: HeaderSource, body: string | Uint8Array, toleranceMs = DEFAULT_TOLERANCE_MS): boolean {
  const timestampText = header(headers, TIMESTAMP_HEADER)
  const signature = header(headers, SIGNATURE_HEADER)
  if (!timestampText || !signature || !/^\d{1,16}$/.test(timestampText)) return false
  const timestamp = Number(timestampText)
  if (Math.abs(Date.now() - timestamp) > toleranceMs) return false
  const expected = Buffer.from(signWebhook(secret, timestamp, body))
  const given = Buffer.from(signature)
  // timingSafeEqual throws on different lengths; the length itself is no secret.
  return given.length === expected.length && timingSafeEqual(given, expected)
}

function header(headers: HeaderSource, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined
  const value = headers[name] ?? Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1]
  return Array.isArray(value) ? value[0] : value
}
