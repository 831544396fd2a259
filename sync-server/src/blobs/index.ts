/**
 * Attachments on the server (docs/attachments.md): resumable uploads (uploads.ts), the
 * blob store (file-store.ts or s3-store.ts), the ledger of references, uploaders and
 * quotas (ledger.ts), and the download route (routes.ts). The server wires it with
 * `openBlobs` and the event index's `stored` hook, which records the blobs each
 * conversation's `attachment` events reference.
 */
import type { ParleyEvent } from '@parley/core'
import type { FastifyBaseLogger, FastifyInstance, preHandlerAsyncHookHandler } from 'fastify'
import { join } from 'node:path'
import type { EventIndex, SequencedEvent } from '../events/event-index.ts'
import type { Closing } from '../http/closing.ts'
import { FileBlobStore } from './file-store.ts'
import { BlobLedger } from './ledger.ts'
import { blobLocation, type ResolvedBlobOptions } from './options.ts'
import { blobRoutes } from './routes.ts'
import type { BlobStore } from './store.ts'
import { Uploads } from './uploads.ts'

export { BLOB_DEFAULTS, BLOB_OPTIONAL, checkBlobOptions, type BlobOptions, type ResolvedBlobOptions } from './options.ts'

/** How often expired uploads are dropped (uploads.ts UPLOAD_EXPIRY_MS says when one expires). */
const SWEEP_MS = 60 * 60 * 1000

export interface BlobServiceOptions {
  dataDir: string
  options: ResolvedBlobOptions
  index: EventIndex
  authenticate: preHandlerAsyncHookHandler
  isMember(conversationId: string, user: string): Promise<boolean>
  log: FastifyBaseLogger
}

export interface BlobService {
  register(app: FastifyInstance, closing: Closing): void
  close(): Promise<void>
}

async function openStore({ dataDir, options }: BlobServiceOptions): Promise<BlobStore> {
  const location = blobLocation(options.blobStore)
  if (location.kind === 'file') return new FileBlobStore(join(dataDir, 'blobs'))
  // The AWS SDK loads only when it is used.
  const { S3BlobStore } = await import('./s3-store.ts')
  const credentials = options.s3AccessKeyId !== undefined && options.s3SecretAccessKey !== undefined ? { accessKeyId: options.s3AccessKeyId, secretAccessKey: options.s3SecretAccessKey } : undefined
  return new S3BlobStore({ bucket: location.bucket, prefix: location.prefix, ...(options.s3Endpoint !== undefined && { endpoint: options.s3Endpoint }), ...(options.s3Region !== undefined && { region: options.s3Region }), ...(credentials && { credentials }) })
}

const referencedBlobs = (events: readonly SequencedEvent[]): Set<string> =>
  new Set(events.map(({ event }) => event).filter((event: ParleyEvent) => event.type === 'attachment').map(event => event.hash))

export async function openBlobs(service: BlobServiceOptions): Promise<BlobService> {
  const { options, index, log } = service
  const ledger = await BlobLedger.open(join(service.dataDir, 'blobs', 'ledger'))
  const store = await openStore(service)
  const uploads = new Uploads({
    stagingDirectory: join(service.dataDir, 'blobs', 'uploads'),
    store,
    ledger,
    maxBlobBytes: options.maxBlobBytes,
    quotaBytes: options.blobQuotaBytes,
    authenticate: service.authenticate,
    log,
  })
  const writes = new Set<Promise<void>>()
  const onStored = (conversationId: string, events: SequencedEvent[]): void => {
    const hashes = referencedBlobs(events)
    if (hashes.size === 0) return
    const write = ledger.addReferences(conversationId, hashes).catch(error => log.error({ err: error, conversationId }, 'could not record the blobs a conversation references'))
    writes.add(write)
    void write.finally(() => writes.delete(write))
  }
  index.on('stored', onStored)
  const sweep = (): void => void uploads.sweep().catch(error => log.warn({ err: error }, 'could not drop expired uploads'))
  const sweeper = setInterval(sweep, SWEEP_MS).unref()
  sweep()
  return {
    register(app, closing) {
      uploads.register(app)
      blobRoutes(app, { store, ledger, authenticate: service.authenticate, isMember: service.isMember, closing })
    },
    async close() {
      clearInterval(sweeper)
      index.off('stored', onStored)
      await Promise.all(writes)
      await store.close()
      await ledger.close()
    },
  }
}
