/**
 * Resumable uploads with the tus protocol (tus.io, v1.0.0: creation, termination,
 * expiration) at `/v1/uploads`, through @tus/server with @tus/file-store staging the bytes
 * under `<data>/blobs/uploads`. Only this module reaches into tus.
 *
 * Every request carries the same bearer token as the REST routes; an upload is the
 * uploader's alone (others get 404). Creation declares the length and, in Upload-Metadata,
 * `hash` (SHA-256, lowercase hex) and `mime`; it is refused past `maxBlobBytes`, or past the
 * user's quota with what they have stored and are uploading. On completion the bytes are
 * hashed and their type sniffed (verify.ts): a mismatch is refused (422) and the upload
 * dropped; otherwise the file moves into the blob store (store.ts), once per distinct hash.
 */
import { isBlobHash, isMimeType } from '@parley/core'
import { FileStore } from '@tus/file-store'
import { EVENTS, Server, type Upload } from '@tus/server'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import type { IncomingMessage } from 'node:http'
import { join } from 'node:path'
import { ServerErrorCodes } from '../errors.ts'
import { caller } from '../http/auth.ts'
import type { BlobLedger } from './ledger.ts'
import { MAX_OPEN_UPLOADS } from './ledger.ts'
import type { BlobStore } from './store.ts'
import { inspectFile, mimeMismatch } from './verify.ts'

/** Upload-Metadata keys a client may send; `name` is accepted for clients that send one, and ignored. */
const METADATA_KEYS = new Set(['hash', 'mime', 'name'])
/** An upload not finished within a day is dropped and its reservation given back (sweep in blobs/index.ts). */
export const UPLOAD_EXPIRY_MS = 24 * 60 * 60 * 1000

export interface UploadOptions {
  stagingDirectory: string
  store: BlobStore
  ledger: BlobLedger
  maxBlobBytes: number
  quotaBytes: number
  authenticate: preHandlerAsyncHookHandler
  log: FastifyBaseLogger
}

/** What a hook throws: @tus/server answers it as is (after onResponseError). */
interface TusRefusal {
  status_code: number
  body: string
}

const refusal = (status: number, code: string, message: string): TusRefusal => ({ status_code: status, body: JSON.stringify({ error: { code, message } }) })

const CODE_OF_STATUS: Record<number, string> = { 401: ServerErrorCodes.UNAUTHENTICATED, 403: ServerErrorCodes.FORBIDDEN, 404: ServerErrorCodes.NOT_FOUND, 410: ServerErrorCodes.NOT_FOUND, 413: ServerErrorCodes.TOO_LARGE }

/** The tus request's Node request, where the fastify route left the caller. */
type TusRequest = { method: string; runtime?: { node?: { req: IncomingMessage } } }

export class Uploads {
  readonly #tus: Server
  readonly #files: FileStore
  readonly #options: UploadOptions
  /** The caller of each request being handled (set by the route, read by the hooks). */
  readonly #callers = new WeakMap<IncomingMessage, string>()
  /** Uploads verified in their creation request, by ID, with their uploader: stored once it is answered. */
  readonly #storeAfterAnswer = new Map<string, string>()

  constructor(options: UploadOptions) {
    this.#options = options
    this.#files = new FileStore({ directory: options.stagingDirectory, expirationPeriodInMilliseconds: UPLOAD_EXPIRY_MS })
    this.#tus = new Server({
      path: '/v1/uploads',
      datastore: this.#files,
      maxSize: options.maxBlobBytes,
      // A relative Location: the Host header is the client's to choose.
      relativeLocation: true,
      onIncomingRequest: (request, id) => this.#admit(request as unknown as TusRequest, id),
      onUploadCreate: (request, upload) => this.#create(request as unknown as TusRequest, upload),
      onUploadFinish: (request, upload) => this.#finish(request as unknown as TusRequest, upload),
      onResponseError: async (_request, error) => this.#answer(error as Partial<TusRefusal> & Error),
    })
    this.#tus.on(EVENTS.POST_FINISH, (_request: unknown, _response: unknown, upload: Upload) => {
      const user = this.#storeAfterAnswer.get(upload.id)
      if (user === undefined) return
      this.#storeAfterAnswer.delete(upload.id)
      this.#store(user, upload).catch(error => this.#options.log.error({ err: error, upload: upload.id }, 'could not store an upload finished at its creation'))
    })
    this.#tus.on(EVENTS.POST_TERMINATE, (request: unknown, _response: unknown, id: string) => {
      const user = this.#caller(request as TusRequest)
      this.#options.ledger.release(user, id).catch(error => this.#options.log.warn({ err: error, upload: id }, 'could not release an upload reservation'))
    })
  }

  /** The tus routes, in their own scope: the upload body parser applies to them alone. */
  register(app: FastifyInstance): void {
    void app.register(async scope => {
      // PATCH bodies stream to the store; fastify must not read them.
      scope.addContentTypeParser('application/offset+octet-stream', (_request, _payload, done) => done(null))
      const handle = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
        if (request.method !== 'OPTIONS') this.#callers.set(request.raw, caller(request).user)
        reply.hijack()
        await this.#tus.handle(request.raw, reply.raw).catch(error => {
          this.#options.log.warn({ err: error }, 'upload request failed')
          if (!reply.raw.headersSent) reply.raw.writeHead(500)
          reply.raw.end()
        })
      }
      const schema = { tags: ['attachments'], summary: 'tus resumable upload (docs/attachments.md)', security: [{ bearer: [] }] }
      scope.route({ method: ['POST'], url: '/v1/uploads', preHandler: this.#options.authenticate, schema, handler: handle })
      scope.route({ method: ['HEAD', 'PATCH', 'DELETE'], url: '/v1/uploads/:id', preHandler: this.#options.authenticate, schema, handler: handle })
      // Capability discovery and CORS preflight carry no token.
      scope.route({ method: ['OPTIONS'], url: '/v1/uploads', schema: { ...schema, hide: true }, handler: handle })
    })
  }

  /** Drops uploads past their expiry and gives their reservations back; the number dropped. */
  async sweep(): Promise<number> {
    let dropped = 0
    for await (const { user, uploadId } of this.#options.ledger.reservations()) {
      const upload = await this.#files.getUpload(uploadId).catch(() => undefined)
      const created = upload?.creation_date ? Date.parse(upload.creation_date) : 0
      if (upload && Date.now() - created < UPLOAD_EXPIRY_MS) continue
      if (upload) await this.#files.remove(uploadId).catch(() => undefined)
      await this.#options.ledger.release(user, uploadId)
      dropped++
    }
    return dropped
  }

  #caller(request: TusRequest): string {
    const node = request.runtime?.node?.req
    const user = node && this.#callers.get(node)
    if (user === undefined) throw refusal(401, ServerErrorCodes.UNAUTHENTICATED, 'send Authorization: Bearer <token>')
    return user
  }

  /** Every request but creation names an upload: the caller's own, or none (404, as if it did not exist). */
  async #admit(request: TusRequest, id: string): Promise<void> {
    if (request.method === 'OPTIONS') return
    const user = this.#caller(request)
    if (request.method === 'POST') return
    const upload = await this.#files.getUpload(id)
    if (upload.metadata?.user !== user) throw refusal(404, ServerErrorCodes.NOT_FOUND, 'no such upload')
  }

  async #create(request: TusRequest, upload: Upload): Promise<{ metadata: Record<string, string> }> {
    const user = this.#caller(request)
    const metadata = upload.metadata ?? {}
    for (const key of Object.keys(metadata)) if (!METADATA_KEYS.has(key)) throw refusal(400, ServerErrorCodes.BAD_REQUEST, `unknown Upload-Metadata key ${JSON.stringify(key.slice(0, 40))}: send hash and mime`)
    if (!isBlobHash(metadata.hash)) throw refusal(400, ServerErrorCodes.BAD_REQUEST, 'Upload-Metadata hash must be the SHA-256 of the bytes in lowercase hex')
    if (!isMimeType(metadata.mime)) throw refusal(400, ServerErrorCodes.BAD_REQUEST, 'Upload-Metadata mime must be a lowercase type/subtype')
    if (upload.size === undefined) throw refusal(400, ServerErrorCodes.BAD_REQUEST, 'send Upload-Length: the length cannot be deferred')
    const reserved = await this.#options.ledger.reserve(user, upload.id, upload.size, this.#options.quotaBytes)
    if (!reserved.ok) {
      const { stored, reserved: pending } = reserved.usage
      throw reserved.reason === 'uploads'
        ? refusal(429, ServerErrorCodes.RATE_LIMITED, `at most ${MAX_OPEN_UPLOADS} uploads open at once: finish or cancel one`)
        : refusal(413, ServerErrorCodes.QUOTA_EXCEEDED, `quota of ${this.#options.quotaBytes} bytes: ${stored} stored and ${pending} being uploaded, ${upload.size} more asked`)
    }
    return { metadata: { hash: metadata.hash, mime: metadata.mime, user } }
  }

  async #finish(request: TusRequest, upload: Upload): Promise<Record<string, never>> {
    const user = this.#caller(request)
    const { hash, mime } = upload.metadata as { hash: string; mime: string }
    const path = join(this.#options.stagingDirectory, upload.id)
    const inspection = await inspectFile(path)
    const problem = inspection.hash !== hash ? `the bytes hash to ${inspection.hash}, not the declared ${hash}` : mimeMismatch(mime, inspection.sniffed)
    if (problem) {
      await this.#files.remove(upload.id).catch(() => undefined)
      await this.#options.ledger.release(user, upload.id)
      throw refusal(422, ServerErrorCodes.BLOB_MISMATCH, `${problem}; the upload was dropped`)
    }
    // Finished by its creation request (an empty file): @tus/server reads the upload back
    // before answering, so it moves once the answer is out.
    if (request.method === 'POST') this.#storeAfterAnswer.set(upload.id, user)
    else await this.#store(user, upload)
    return {}
  }

  async #store(user: string, upload: Upload): Promise<void> {
    const { hash } = upload.metadata as { hash: string }
    const path = join(this.#options.stagingDirectory, upload.id)
    try {
      await this.#options.store.put(hash, path, upload.size ?? 0)
    } catch (error) {
      // Kept, the complete upload would answer a retry's HEAD with its full offset and never be stored: drop it, the retry starts anew.
      this.#options.log.error({ err: error, upload: upload.id }, 'could not store a verified blob')
      await this.#files.remove(upload.id).catch(() => undefined)
      await this.#options.ledger.release(user, upload.id)
      throw refusal(503, ServerErrorCodes.INTERNAL, 'the blob store did not take the file; upload it again')
    }
    // The staged file has moved; its tus record goes too (a HEAD on it answers 404 from now on).
    await this.#files.configstore.delete(upload.id)
    await this.#options.ledger.settle(user, upload.id, hash, upload.size ?? 0)
  }

  /** Every tus error as `{ error: { code, message } }`, like the rest of the HTTP API. */
  #answer(error: Partial<TusRefusal> & Error): TusRefusal {
    const status = error.status_code ?? 500
    if (status >= 500) this.#options.log.error({ err: error }, 'upload failed')
    const body = error.body ?? ''
    if (body.startsWith('{')) return { status_code: status, body }
    const code = CODE_OF_STATUS[status] ?? (status < 500 ? ServerErrorCodes.BAD_REQUEST : ServerErrorCodes.INTERNAL)
    return refusal(status, code, status >= 500 ? 'internal error' : body.trim())
  }
}
