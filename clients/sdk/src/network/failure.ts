/**
 * Why a connection attempt failed, in words a person can act on. Three situations look
 * alike from a WebSocket ("closed before it opened") and must not read alike:
 *
 * - nothing answered at the URL (refused, unknown host, a proxy whose upstream is down):
 *   `PARLEY_ERR_UNREACHABLE`, transient, retried;
 * - a Parley server answered and refused the token (HTTP 401 at upgrade, with the
 *   server's reason): `PARLEY_ERR_UNAUTHENTICATED`;
 * - something answered that is not a Parley sync endpoint (a wrong path: HTTP 404, or
 *   another kind of server): `PARLEY_ERR_NOT_SYNC_SERVER`.
 *
 * Browsers hide the status and body of a refused upgrade; Node's `ws` shows them
 * (`unexpected-response`), so there the server's own reason is quoted.
 */
import { ClientErrorCodes, ParleyError } from '../errors.ts'

/** Network error codes that mean nothing answered at the address (Node's `ws` passes them through). */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE', 'ENETDOWN', 'EHOSTDOWN'])

/** Gateway statuses: a proxy answered, the server behind it did not. */
const GATEWAY_STATUSES = new Set([502, 503, 504])

/** The reason in a Parley JSON error body (`{ error: { code, message } }`), if it is one. */
function serverReason(body: string): { code?: string; message?: string } | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } }
    const { code, message } = parsed.error ?? {}
    if (typeof code === 'string' && code.startsWith('PARLEY_ERR_')) return { code, message: typeof message === 'string' ? message : undefined }
  } catch {
    // Not JSON: not one of ours.
  }
  return undefined
}

/** The server's URL without its query (the token travels in it). */
export function displayUrl(url: string): string {
  return url.split('?')[0]!
}

/** A refused upgrade: the HTTP status and body the server answered instead of switching protocols. */
export function refusedUpgrade(url: string, status: number, body: string): ParleyError {
  const where = displayUrl(url)
  const reason = serverReason(body)
  if (status === 401) {
    return new ParleyError(ClientErrorCodes.UNAUTHENTICATED, `the server at ${where} refused the token: ${reason?.message ?? 'HTTP 401'}`)
  }
  if (GATEWAY_STATUSES.has(status)) return new ParleyError(ClientErrorCodes.UNREACHABLE, `cannot reach the server at ${where} (HTTP ${status} from a proxy)`)
  if (reason && status === 429) return new ParleyError(reason.code!, `the server at ${where} refused the connection: ${reason.message ?? `HTTP ${status}`}`)
  const said = reason ? `: ${reason.message ?? reason.code}` : ''
  return new ParleyError(ClientErrorCodes.NOT_SYNC_SERVER, `${where} is not a Parley sync endpoint (HTTP ${status}${said}); the URL should be ws(s)://HOST:PORT or end in /sync`)
}

/** A failed attempt, from the error event a WebSocket reported (if any). */
export function failedAttempt(url: string, error: { message?: string; error?: { code?: string; message?: string } } | undefined): ParleyError {
  const where = displayUrl(url)
  const code = error?.error?.code
  const message = error?.message ?? error?.error?.message ?? ''
  // Node's ws without an `unexpected-response` listener, and test fakes: the status is in the message.
  const status = /Unexpected server response: (\d{3})/.exec(message)?.[1]
  if (status) return refusedUpgrade(url, Number(status), '')
  if (code && UNREACHABLE_CODES.has(code)) return new ParleyError(ClientErrorCodes.UNREACHABLE, `cannot reach the server at ${where} (${code})`)
  if (code || message) return new ParleyError(ClientErrorCodes.NOT_SYNC_SERVER, `no WebSocket at ${where}: ${code ?? message}`)
  // A browser says nothing about why.
  return new ParleyError(ClientErrorCodes.UNREACHABLE, `cannot reach the server at ${where}`)
}
