/**
 * The blobs this device must upload, kept under `['parley', 'uploads']` so an upload
 * survives a restart, and sent with the tus protocol (tus-js-client) whenever the client
 * is online: a dropped connection aborts the upload, the next connection resumes it from
 * the server's offset (its upload URL is kept with it). docs/attachments.md.
 */
import type { StorageAdapterInterface } from '@automerge/automerge-repo/slim'
import { EventEmitter } from 'eventemitter3'
import { DetailedError, Upload } from 'tus-js-client'
import type { LocalBlobs } from './local-blobs.ts'

const QUEUE_KEY = ['parley', 'uploads']
const encoder = new TextEncoder()
const decoder = new TextDecoder()

export interface QueuedUpload {
  hash: string
  mime: string
  size: number
  /** The tus upload URL once created: where a resumed upload continues. */
  url?: string
}

export type UploadStatus = 'queued' | 'uploading' | 'failed' | 'done'

export interface UploadState {
  hash: string
  status: UploadStatus
  sent: number
  total: number
  /** Why it failed: the server refused the bytes (it will not take them on a retry either) or could not be reached. */
  error?: string
}

interface UploadEvents {
  upload: (state: UploadState) => void
}

export interface UploadEndpoint {
  /** `http(s)://HOST:PORT` of the server. */
  base: string
  token: () => Promise<string>
}

/** The bytes as tus-js-client reads them: a Buffer in Node, a Blob in browsers. */
function uploadInput(bytes: Uint8Array): Blob | Buffer {
  const node = typeof process !== 'undefined' && process.versions?.node !== undefined
  return node ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Blob([bytes as Uint8Array<ArrayBuffer>])
}

export class UploadQueue extends EventEmitter<UploadEvents> {
  readonly #storage: StorageAdapterInterface
  readonly #blobs: LocalBlobs
  readonly #endpoint: UploadEndpoint | undefined
  /** Bounded by the files this device sent that the server does not have yet. */
  readonly #queue: Map<string, QueuedUpload>
  readonly #states = new Map<string, UploadState>()
  readonly #running = new Map<string, Upload>()
  #online = false
  #writes: Promise<unknown> = Promise.resolve()

  private constructor(storage: StorageAdapterInterface, blobs: LocalBlobs, endpoint: UploadEndpoint | undefined, queue: QueuedUpload[]) {
    super()
    this.#storage = storage
    this.#blobs = blobs
    this.#endpoint = endpoint
    this.#queue = new Map(queue.map(upload => [upload.hash, upload]))
    for (const upload of queue) this.#states.set(upload.hash, { hash: upload.hash, status: 'queued', sent: 0, total: upload.size })
  }

  static async open(storage: StorageAdapterInterface, blobs: LocalBlobs, endpoint: UploadEndpoint | undefined): Promise<UploadQueue> {
    const bytes = await storage.load(QUEUE_KEY)
    return new UploadQueue(storage, blobs, endpoint, bytes ? (JSON.parse(decoder.decode(bytes)) as QueuedUpload[]) : [])
  }

  /** The upload's state while this device has one for the blob; undefined once done in an earlier session, or never queued here. */
  state(hash: string): UploadState | undefined {
    return this.#states.get(hash)
  }

  /** Hashes of the files waiting for the server, failed ones included. */
  pending(): string[] {
    return [...this.#queue.keys()]
  }

  /** Resolves once no upload is queued or running: each is done, or failed (a retry starts it again). */
  settled(): Promise<void> {
    const busy = (): boolean => [...this.#queue.keys()].some(hash => this.#states.get(hash)?.status !== 'failed')
    if (!busy()) return Promise.resolve()
    return new Promise(resolve => {
      const listener = (): void => {
        if (busy()) return
        this.off('upload', listener)
        resolve()
      }
      this.on('upload', listener)
    })
  }

  async enqueue(upload: QueuedUpload): Promise<void> {
    if (!this.#queue.has(upload.hash)) {
      this.#queue.set(upload.hash, upload)
      this.#setState({ hash: upload.hash, status: 'queued', sent: 0, total: upload.size })
      await this.#save()
    }
    this.#start(upload)
  }

  /** Starts every queued upload again (a failed one too): the retry a view offers. */
  retry(hash?: string): void {
    for (const upload of this.#queue.values()) if (hash === undefined || upload.hash === hash) this.#start(upload, true)
  }

  /** The connection came up or went down: uploads follow it. */
  setOnline(online: boolean): void {
    this.#online = online
    if (online) {
      for (const upload of this.#queue.values()) if (this.#states.get(upload.hash)?.status !== 'failed') this.#start(upload)
      return
    }
    for (const [hash, running] of this.#running) {
      this.#running.delete(hash)
      void running.abort()
      const state = this.#states.get(hash)
      if (state) this.#setState({ ...state, status: 'queued' })
    }
  }

  #start(upload: QueuedUpload, again = false): void {
    const endpoint = this.#endpoint
    if (!endpoint || !this.#online || this.#running.has(upload.hash)) return
    if (!again && this.#states.get(upload.hash)?.status === 'failed') return
    void this.#run(upload, endpoint)
  }

  async #run(upload: QueuedUpload, endpoint: UploadEndpoint): Promise<void> {
    const bytes = await this.#blobs.get(upload.hash)
    if (!bytes) return this.#fail(upload, 'the file is no longer on this device')
    if (this.#running.has(upload.hash) || !this.#online) return
    const tus: Upload = new Upload(uploadInput(bytes), {
      endpoint: `${endpoint.base}/v1/uploads`,
      ...(upload.url !== undefined && { uploadUrl: upload.url }),
      metadata: { hash: upload.hash, mime: upload.mime },
      // Resuming is this queue's job (the URL is kept with the upload), not the library's URL storage.
      storeFingerprintForResuming: false,
      retryDelays: [0, 1000, 3000],
      onShouldRetry: error => {
        const status = error.originalResponse?.getStatus() ?? 0
        return status === 0 || status === 409 || status === 423 || status >= 500
      },
      onBeforeRequest: async request => request.setHeader('Authorization', `Bearer ${await endpoint.token()}`),
      onUploadUrlAvailable: () => {
        if (tus.url && upload.url !== tus.url) {
          upload.url = tus.url
          void this.#save()
        }
      },
      onProgress: (sent, total) => this.#setState({ hash: upload.hash, status: 'uploading', sent, total }),
      onSuccess: () => void this.#done(upload, tus),
      onError: error => {
        if (this.#running.get(upload.hash) !== tus) return
        this.#running.delete(upload.hash)
        const status = error instanceof DetailedError ? (error.originalResponse?.getStatus() ?? 0) : 0
        this.#fail(upload, describe(error), status === 400 || status === 422)
      },
    })
    this.#running.set(upload.hash, tus)
    this.#setState({ hash: upload.hash, status: 'uploading', sent: this.#states.get(upload.hash)?.sent ?? 0, total: upload.size })
    tus.start()
  }

  async #done(upload: QueuedUpload, tus: Upload): Promise<void> {
    if (this.#running.get(upload.hash) === tus) this.#running.delete(upload.hash)
    this.#queue.delete(upload.hash)
    await this.#save()
    await this.#blobs.unpin(upload.hash)
    this.#setState({ hash: upload.hash, status: 'done', sent: upload.size, total: upload.size })
  }

  /**
   * A refusal of the bytes themselves (400, 422: not what was declared) never passes on a
   * retry: the upload leaves the queue and the file becomes an ordinary cached blob. Any
   * other failure (quota, server down) stays queued for `retry`, with a new upload.
   */
  #fail(upload: QueuedUpload, error: string, final = false): void {
    delete upload.url
    if (final) {
      this.#queue.delete(upload.hash)
      void this.#blobs.unpin(upload.hash)
    }
    void this.#save()
    this.#setState({ hash: upload.hash, status: 'failed', sent: 0, total: upload.size, error })
  }

  #setState(state: UploadState): void {
    this.#states.set(state.hash, state)
    this.emit('upload', state)
  }

  #save(): Promise<unknown> {
    const snapshot = encoder.encode(JSON.stringify([...this.#queue.values()]))
    this.#writes = this.#writes.then(() => this.#storage.save(QUEUE_KEY, snapshot))
    return this.#writes
  }

  async close(): Promise<void> {
    this.#online = false
    for (const running of this.#running.values()) void running.abort()
    this.#running.clear()
    await this.#writes
  }
}

function describe(error: Error): string {
  const response = error instanceof DetailedError ? error.originalResponse : null
  if (!response) return error.message
  try {
    const body = JSON.parse(response.getBody()) as { error?: { message?: string } }
    return body.error?.message ?? `HTTP ${response.getStatus()}`
  } catch {
    return `HTTP ${response.getStatus()}`
  }
}
