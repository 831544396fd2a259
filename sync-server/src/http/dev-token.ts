/**
 * Development sign-in: `POST /v1/dev/token {"user": "alice"}` answers a token for any user
 * name, signed with the development secret. Registered only when the server runs on
 * its generated development secret (no --jwt-secret, public key or JWKS), so a server
 * configured for real users never mints tokens for whoever asks. It is what the web
 * app's "development sign-in" calls; `parley-server token <user>` does the same offline.
 */
import type { FastifyInstance } from 'fastify'
import { DEFAULT_LIMITS } from '@parley/core'
import { mintToken } from '../auth/tokens.ts'
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

export function devTokenRoute(app: FastifyInstance, secret: string): void {
  app.post<{ Body: { user: string } }>(
    '/v1/dev/token',
    {
      schema: {
        tags: ['development'],
        summary: 'A token for any user (only with the development secret: no --jwt-secret, public key or JWKS configured)',
        body,
        response: { 201: answer, 400: errorBody },
      },
    },
    async (request, reply) => {
      const { user } = request.body
      request.log.info({ user }, 'development sign-in')
      return reply.code(201).send({ user, token: await mintToken(secret, user, { ttl: DEV_TOKEN_TTL }), expiresIn: DEV_TOKEN_TTL })
    },
  )
}
