/**
 * Bearer-token authentication for the HTTP routes: the same tokens as WebSocket sync.
 * `authenticate` puts the caller's identity on the request; `requireAdmin` also needs
 * the token's `"admin": true` claim.
 */
import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import type { Identity, TokenVerifier } from '../auth/tokens.ts'
import { ParleyError, ServerErrorCodes } from '../errors.ts'

declare module 'fastify' {
  interface FastifyRequest {
    identity?: Identity
  }
}

export interface HttpAuth {
  authenticate: preHandlerAsyncHookHandler
  requireAdmin: preHandlerAsyncHookHandler
}

/** The caller, once `authenticate` ran. */
export function caller(request: FastifyRequest): Identity {
  if (!request.identity) throw new ParleyError(ServerErrorCodes.UNAUTHENTICATED, 'not authenticated')
  return request.identity
}

export function httpAuth(verify: TokenVerifier): HttpAuth {
  const authenticate = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const header = request.headers.authorization
    if (!header?.startsWith('Bearer ')) {
      return void reply.code(401).send({ error: { code: ServerErrorCodes.UNAUTHENTICATED, message: 'send Authorization: Bearer <token>' } })
    }
    try {
      request.identity = await verify(header.slice('Bearer '.length))
    } catch (error) {
      return void reply.code(401).send({ error: { code: ServerErrorCodes.UNAUTHENTICATED, message: (error as Error).message } })
    }
  }
  return {
    authenticate,
    async requireAdmin(request, reply) {
      await authenticate.call(this, request, reply)
      if (reply.sent) return
      if (!request.identity?.admin) {
        return void reply.code(403).send({ error: { code: ServerErrorCodes.FORBIDDEN, message: 'an admin token is required' } })
      }
    },
  }
}
