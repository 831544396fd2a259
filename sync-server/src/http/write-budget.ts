/**
 * HTTP writes (create, add or remove a member, publish) draw from the same per-user
 * message budget as the user's sync connections (network/rate-limit.ts `UserRates`,
 * shared with the server adapter): one token per request. Without it, HTTP was a way
 * around the limit, each publish fanning out to every member and into the webhook queue.
 * A user without tokens, or rate limited recently and not yet back to half a bucket (as
 * a WebSocket upgrade is refused), is answered 429 PARLEY_ERR_RATE_LIMITED with
 * `Retry-After` in seconds.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ServerErrorCodes } from '../errors.ts'
import type { UserRates } from '../network/rate-limit.ts'
import { caller } from './auth.ts'

export interface WriteBudget {
  rates: UserRates
  /** For the message: the configured `messagesPerSecond`. */
  perSecond: number
}

/** A preHandler, after authentication: takes one of the caller's tokens or answers 429. */
export function spendWriteToken({ rates, perSecond }: WriteBudget) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const { user } = caller(request)
    if (rates.retryAfterMs(user) === 0 && rates.take(user)) return undefined
    const retryAfterMs = Math.max(1000, rates.retryAfterMs(user))
    request.log.debug({ retryAfterMs }, 'HTTP write rate limited')
    return reply
      .code(429)
      .header('retry-after', String(Math.ceil(retryAfterMs / 1000)))
      .send({ error: { code: ServerErrorCodes.RATE_LIMITED, message: `rate limited: more than ${perSecond} messages per second from this user; retry in ${retryAfterMs} ms` } })
  }
}
