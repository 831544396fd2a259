/**
 * Development sign-in: `POST /v1/dev/token {"user": "alice"}` answers a token for any user
 * name, signed with the development secret. Registered only when the server runs on
 * its generated development secret (no --jwt-secret, public key or JWKS), so a server
 * configured for real users never mints tokens for whoever asks; and it answers only
 * requests from this machine (loopback), so a development server bound to a public
 * address does not hand out tokens to the network. It is what the web app's
 * "development sign-in" calls; `parley-server token <user>` does the same offline.
 */
import type { FastifyInstance } from 'fastify'
import { isIP } from 'node:net'
import { DEFAULT_LIMITS } from '@parley/core'
import { mintToken } from '../auth/tokens.ts'
import { ParleyError, ServerErrorCodes } from '../errors.ts'
import { errorBody } from './schemas.ts'

/** Dev tokens live for a working day; the web app asks for a fresh one when one runs out. */
export const DEV_TOKEN_TTL = '12h'

const body = {
  type: 'object',
  additionalProperties: false,
  properties: { user: { type: 'string', minLength: 1, maxLength: DEFAULT_LIMITS.maxIdLength, pattern: '^[^\\s]+$' } },
  required: ['user'],
} as const

const answer = {
  type: 'object',
  properties: { user: { type: 'string' }, token: { type: 'string' }, expiresIn: { type: 'string' } },
  required: ['user', 'token', 'expiresIn'],
} as const

function isLoopback(address: string | undefined): boolean {
  if (!address) return false
  const plain = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address
  return plain === '::1' || (isIP(plain) === 4 && plain.startsWith('127.'))
}

export function devTokenRoute(app: FastifyInstance, secret: string): void {
  app.post<{ Body: { user: string } }>(
    '/v1/dev/token',
    {
      schema: {
        tags: ['development'],
        summary: 'A token for any user: only with the development secret (no --jwt-secret, public key or JWKS configured), only from this machine',
        body,
        response: { 201: answer, 400: errorBody, 403: errorBody },
      },
    },
    async (request, reply) => {
      if (!isLoopback(request.socket.remoteAddress)) {
        throw new ParleyError(ServerErrorCodes.FORBIDDEN, 'development sign-in answers only requests from this machine; use a token')
      }
      const { user } = request.body
      request.log.info({ user }, 'development sign-in')
      return reply.code(201).send({ user, token: await mintToken(secret, user, { ttl: DEV_TOKEN_TTL }), expiresIn: DEV_TOKEN_TTL })
    },
  )
}
