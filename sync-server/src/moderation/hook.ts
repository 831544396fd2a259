/**
 * The operator's moderation hook: the server POSTs `{ conversationId, event }` as JSON
 * and the hook answers `{ "decision": "allow" | "flag" | "reject", "reason"?: string }`
 * (docs/moderation.md "The hook"). Anything else — no answer within the timeout, a
 * refused connection, a status other than 2xx, a body that is not such JSON or larger
 * than MAX_ANSWER_BYTES — counts as the hook being down, and the caller applies the
 * documented default.
 */
import type { ParleyEvent } from '@parley/core'

export type HookDecision = 'allow' | 'flag' | 'reject'
export type HookAnswer = { decision: HookDecision; reason?: string } | { down: string }

/** A verdict is a few words; a larger answer is not read. */
export const MAX_ANSWER_BYTES = 16 * 1024
/** Reasons longer than this are cut (core MAX_REASON_BYTES bounds the event's field). */
const MAX_REASON_CHARS = 200
const DECISIONS: readonly string[] = ['allow', 'flag', 'reject']

export async function askHook(url: string, timeoutMs: number, conversationId: string, event: ParleyEvent): Promise<HookAnswer> {
  let response: Response
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ conversationId, event }),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    })
  } catch (error) {
    return { down: (error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : `${(error as Error).message}` }
  }
  try {
    if (!response.ok) return { down: `answered HTTP ${response.status}` }
    const body = await readBounded(response)
    if (body === undefined) return { down: `answered more than ${MAX_ANSWER_BYTES} bytes` }
    return parseAnswer(body)
  } catch (error) {
    return { down: `could not read the answer: ${(error as Error).message}` }
  } finally {
    // An answer not read at all (a status other than 2xx) is dropped, not left to the pool.
    if (response.body && !response.body.locked) await response.body.cancel().catch(() => undefined)
  }
}

/** The answer's text, or undefined past MAX_ANSWER_BYTES (the rest is never read). */
async function readBounded(response: Response): Promise<string | undefined> {
  if (!response.body) return ''
  const chunks: Uint8Array[] = []
  let bytes = 0
  const reader = response.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    bytes += value.byteLength
    if (bytes > MAX_ANSWER_BYTES) {
      await reader.cancel().catch(() => undefined)
      return undefined
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}

export function parseAnswer(body: string): HookAnswer {
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch {
    return { down: 'answered something other than JSON' }
  }
  if (typeof value !== 'object' || value === null) return { down: 'answered JSON that is not an object' }
  const { decision, reason } = value as { decision?: unknown; reason?: unknown }
  if (typeof decision !== 'string' || !DECISIONS.includes(decision)) return { down: `answered no decision of ${DECISIONS.join(', ')}` }
  if (reason !== undefined && typeof reason !== 'string') return { down: 'answered a reason that is not a string' }
  return reason ? { decision: decision as HookDecision, reason: reason.slice(0, MAX_REASON_CHARS) } : { decision: decision as HookDecision }
}
