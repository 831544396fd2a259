/**
 * `GET /v1/blobs/:hash`: a blob's bytes for a member of a conversation whose events
 * reference it (checked on every request: a removed member loses access), or for its
 * uploader. Range requests (one range) and caching headers: the bytes under a hash never
 * change, so the ETag is the hash and the response is immutable.
 */
import { bareDocumentId } from '@parley/core'
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import { ParleyError, ServerErrorCodes } from '../errors.ts'
import { caller } from '../http/auth.ts'
import type { Closing } from '../http/closing.ts'
import { errorBody } from '../http/schemas.ts'
import type { Readable } from 'node:stream'
import type { BlobLedger } from './ledger.ts'
import type { BlobStore, ByteRange } from './store.ts'

export interface BlobRouteOptions {
  store: BlobStore
  ledger: BlobLedger
  authenticate: preHandlerAsyncHookHandler
  /** Whether `user` is a member of the conversation now. */
  isMember(conversationId: string, user: string): Promise<boolean>
  closing: Closing
}

/** The one range a `Range: bytes=…` header asks for; undefined to send it all (absent, malformed or several ranges); 'unsatisfiable' past the end. */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  const match = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!match || (match[1] === '' && match[2] === '')) return undefined
  if (match[1] === '') {
    const suffix = Number(match[2])
    if (suffix === 0) return 'unsatisfiable'
    return size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(match[1])
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1)
  if (match[2] !== '' && Number(match[2]) < start) return undefined
  return start >= size ? 'unsatisfiable' : { start, end }
}

/**
 * `conversation`, when the client names the one it saw the file in, is checked first and
 * alone: however many conversations reference a blob, that answer needs no scan.
 */
async function mayDownload(options: BlobRouteOptions, hash: string, user: string, conversation: string | undefined): Promise<boolean> {
  if (await options.ledger.isUploader(hash, user)) return true
  if (conversation !== undefined) return (await options.ledger.references(hash, conversation)) && options.isMember(conversation, user)
  for (const conversationId of await options.ledger.referencing(hash)) if (await options.isMember(conversationId, user)) return true
  return false
}

export function blobRoutes(app: FastifyInstance, options: BlobRouteOptions): void {
  // A download being sent ends when the server begins to close: a reader that stops reading would otherwise hold the close for ever.
  const send = async (reply: FastifyReply, bytes: Promise<Readable>): Promise<FastifyReply> => {
    const stream = await bytes
    stream.once('close', options.closing.onClose(() => stream.destroy()))
    return reply.send(stream)
  }
  app.get<{ Params: { hash: string }; Querystring: { conversation?: string } }>(
    '/v1/blobs/:hash',
    {
      exposeHeadRoute: false,
      preHandler: options.authenticate,
      schema: {
        tags: ['attachments'],
        summary: 'A blob’s bytes, for members of a conversation that references it; Range and If-None-Match honoured',
        security: [{ bearer: [] }],
        params: { type: 'object', properties: { hash: { type: 'string', pattern: '^[0-9a-f]{64}$' } }, required: ['hash'] },
        querystring: { type: 'object', properties: { conversation: { type: 'string', minLength: 1, maxLength: 128 } }, additionalProperties: false },
        response: { 401: errorBody, 403: errorBody, 404: errorBody, 416: errorBody },
      },
    },
    async (request: FastifyRequest<{ Params: { hash: string }; Querystring: { conversation?: string } }>, reply: FastifyReply) => {
      const { hash } = request.params
      // Access first, existence after: one who may not read it learns nothing of whether it is stored.
      if (!(await mayDownload(options, hash, caller(request).user, request.query.conversation && bareDocumentId(request.query.conversation)))) throw new ParleyError(ServerErrorCodes.FORBIDDEN, 'no conversation of yours references this blob')
      const size = await options.store.size(hash)
      if (size === undefined) throw new ParleyError(ServerErrorCodes.NOT_FOUND, 'the blob is not uploaded (yet)')
      const etag = `"${hash}"`
      reply
        .header('etag', etag)
        .header('cache-control', 'private, max-age=31536000, immutable')
        .header('accept-ranges', 'bytes')
        .header('x-content-type-options', 'nosniff')
      if (request.headers['if-none-match']?.split(',').some(tag => tag.trim().replace(/^W\//, '') === etag)) return reply.code(304).send()
      const ifRange = request.headers['if-range']
      const range = ifRange === undefined || ifRange === etag ? parseRange(request.headers.range, size) : undefined
      if (range === 'unsatisfiable') return reply.code(416).header('content-range', `bytes */${size}`).send({ error: { code: ServerErrorCodes.BAD_REQUEST, message: `the blob has ${size} bytes` } })
      // Bytes to save, never to render: whatever they are, the browser neither sniffs nor runs them.
      reply.header('content-type', 'application/octet-stream').header('content-disposition', 'attachment')
      if (range) {
        reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${size}`).header('content-length', range.end - range.start + 1)
        return send(reply, options.store.read(hash, range))
      }
      reply.header('content-length', size)
      return size === 0 ? reply.send('') : send(reply, options.store.read(hash))
    },
  )
}
