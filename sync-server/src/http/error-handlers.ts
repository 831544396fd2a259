/**
 * Every HTTP error, fastify's own included (unknown route, unparsable body, body too
 * large), answers `{ error: { code, message } }` with a PARLEY_ERR_* code.
 */
import type { FastifyError, FastifyInstance } from 'fastify'
import type { Socket } from 'node:net'
import { CoreErrorCodes } from '@parley/core'
import { isParleyError, ServerErrorCodes } from '../errors.ts'

/** The HTTP status of a ParleyError raised inside a route. */
const STATUS_OF_CODE: Record<string, number> = {
  [ServerErrorCodes.NOT_FOUND]: 404,
  [ServerErrorCodes.FORBIDDEN]: 403,
  [ServerErrorCodes.UNAUTHENTICATED]: 401,
  [ServerErrorCodes.BAD_REQUEST]: 400,
  [ServerErrorCodes.TOO_LARGE]: 413,
  [ServerErrorCodes.CONTENT_REJECTED]: 422,
  [CoreErrorCodes.INVALID_EVENT]: 400,
  [CoreErrorCodes.TEXT_TOO_LARGE]: 413,
}

function codeFor(status: number): string {
  if (status === 404) return ServerErrorCodes.NOT_FOUND
  if (status === 413) return ServerErrorCodes.TOO_LARGE
  if (status === 401) return ServerErrorCodes.UNAUTHENTICATED
  return status < 500 ? ServerErrorCodes.BAD_REQUEST : ServerErrorCodes.INTERNAL
}

/**
 * A schema failure in words that name what to fix: Ajv says `must NOT have additional
 * properties` without naming the property, so an unknown field is named here.
 */
export function validationMessage(error: Pick<FastifyError, 'validation' | 'validationContext'>): string | undefined {
  const issues = error.validation
  if (!issues || issues.length === 0) return undefined
  const context = error.validationContext ?? 'request'
  return issues
    .map(issue => {
      const where = `${context}${issue.instancePath.replaceAll('/', '.')}`
      const unknown = (issue.params as { additionalProperty?: unknown }).additionalProperty
      if (issue.keyword === 'additionalProperties' && typeof unknown === 'string') return `${where} has an unknown field ${JSON.stringify(unknown)}`
      return `${where} ${issue.message ?? 'is invalid'}`
    })
    .join('; ')
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: { code: ServerErrorCodes.NOT_FOUND, message: `no route ${request.method} ${request.url.split('?')[0]}` } })
  })
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const parley = isParleyError(error) ? error : undefined
    const status = parley ? (STATUS_OF_CODE[parley.code] ?? 500) : error.statusCode && error.statusCode >= 400 ? error.statusCode : 500
    if (status >= 500) request.log.error({ err: error }, 'request failed')
    const code = parley && status < 500 ? parley.code : codeFor(status)
    // Internal errors do not leak their message.
    const message = status >= 500 ? 'internal error' : (validationMessage(error) ?? error.message)
    void reply.code(status).send({ error: { code, message } })
  })
}

/**
 * Requests node's parser rejects before fastify sees them (garbage, oversized headers):
 * the same JSON shape, written straight to the socket. Passed as fastify's
 * `clientErrorHandler`.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) return void socket.destroy(error)
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
  const body = JSON.stringify({ error: { code: ServerErrorCodes.BAD_REQUEST, message: `malformed HTTP request (${error.code ?? 'parse error'})` } })
  socket.end(`HTTP/1.1 ${status} Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
}
