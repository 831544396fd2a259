/**
 * Development sign-in: `POST /v1/dev/token {"user": "alice"}` answers a token for any user
 * name, signed with the development secret. Registered only when the server runs on
 * its generated development secret (no --jwt-secret, public key or JWKS), so a server
 * configured for real users never mints tokens for whoever asks. It answers only
 * requests from this machine: the socket must be loopback, so a development server bound
 * to a public address does not hand out tokens to the network; the Host header must
 * name this machine, so a web page whose name was rebound to 127.0.0.1 (DNS rebinding)
 * gets nothing; and proxy headers must be absent, since a reverse proxy on the same host
 * makes every caller look local. It is what the web app's "development sign-in" calls;
 * `parley-server token <user>` does the same offline.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { isIP } from 'node:net'
import { DEFAULT_LIMITS, isValidUserId, RESERVED_USER_PREFIX } from '@parley/core'
import { mintToken, parseTtl } from '../auth/tokens.ts'
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

/** Headers a proxy adds to say whom it forwards for (RFC 7239 and the de facto ones). */
const PROXY_HEADERS = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip', 'via', 'x-client-ip', 'true-client-ip', 'cf-connecting-ip', 'fastly-client-ip', 'x-cluster-client-ip']

function isLoopback(address: string | undefined): boolean {
  if (!address) return false
  const plain = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address
  return plain === '::1' || (isIP(plain) === 4 && plain.startsWith('127.'))
}

/**
 * Does `host` (a Host header) name this machine on `port`? `localhost` or a loopback
 * address, with the port the server listens on (no port: only when that is 80 or 443);
 * `port` undefined when the server is not listening (requests injected in tests).
 */
export function isLoopbackHost(host: string | undefined, port: number | undefined): boolean {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(host ?? '')
  if (!match) return false
  const name = match[1]!.toLowerCase()
  const local = name === 'localhost' || isLoopback(name.startsWith('[') ? name.slice(1, -1) : name)
  if (!local || port === undefined) return local
  return match[2] === undefined ? port === 80 || port === 443 : Number(match[2]) === port
}

/** Why this request may not sign in, or undefined when it may. */
function refusal(request: FastifyRequest, port: number | undefined): string | undefined {
  if (!isLoopback(request.socket.remoteAddress)) return 'development sign-in answers only requests from this machine; use a token'
  const proxied = PROXY_HEADERS.filter(name => request.headers[name] !== undefined)
  if (proxied.length > 0) {
    return `development sign-in refuses proxied requests (${proxied.join(', ')}): behind a proxy every caller looks local; mint a token with \`parley-server token <user>\``
  }
  if (!isLoopbackHost(request.headers.host, port)) {
    const expected = port === undefined ? 'localhost, 127.0.0.1 or [::1]' : `localhost:${port}, 127.0.0.1:${port} or [::1]:${port}`
    return `development sign-in needs a Host header naming this machine (${expected}), got ${JSON.stringify(request.headers.host ?? null)}`
  }
  return undefined
}

export function devTokenRoute(app: FastifyInstance, secret: string, options: { maxLifetimeSeconds?: number } = {}): void {
  // A server with a maximum token lifetime shorter than a working day hands out tokens that short.
  const max = options.maxLifetimeSeconds
  const ttl = max !== undefined && max < parseTtl(DEV_TOKEN_TTL) ? `${max}s` : DEV_TOKEN_TTL
  const listeningPort = (): number | undefined => {
    const address = app.server.address()
    return typeof address === 'object' && address !== null ? address.port : undefined
  }
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
      const refused = refusal(request, listeningPort())
      if (refused !== undefined) throw new ParleyError(ServerErrorCodes.FORBIDDEN, refused)
      const { user } = request.body
      // Such a token would be refused everywhere (auth/tokens.ts): say so now.
      if (!isValidUserId(user)) throw new ParleyError(ServerErrorCodes.BAD_REQUEST, `${JSON.stringify(user)} is not a valid user ID: a name every object inherits, or one of the server's own (${RESERVED_USER_PREFIX}…)`)
      request.log.info({ user }, 'development sign-in')
      return reply.code(201).send({ user, token: await mintToken(secret, user, { ttl }), expiresIn: ttl })
    },
  )
}
