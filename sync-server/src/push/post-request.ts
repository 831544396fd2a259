/**
 * Sends one prepared Web Push request (web-push's generateRequestDetails) and resolves
 * with the push service's status. The whole exchange is bounded by `timeoutMs`, and the
 * answer's body is never kept: only its status matters (RFC 8030).
 */
import { request as httpsRequest, type Agent } from 'node:https'
import type { RequestDetails } from 'web-push'

export function postPush(details: RequestDetails, { timeoutMs, agent }: { timeoutMs: number; agent?: Agent }): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = details.body ?? Buffer.alloc(0)
    const request = httpsRequest(details.endpoint, {
      method: 'POST',
      headers: { ...details.headers, 'Content-Length': body.length },
      signal: AbortSignal.timeout(timeoutMs),
      ...(agent && { agent }),
    })
    request.on('error', reject)
    request.on('response', response => {
      // Read and dropped, so the connection can be reused; an error after the status is no longer ours.
      response.on('error', () => undefined)
      response.resume()
      resolve(response.statusCode ?? 0)
    })
    request.end(body)
  })
}
