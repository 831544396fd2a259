/**
 * Attachments on a device (docs/attachments.md): the local blob store (local-blobs.ts)
 * and the upload queue (uploads.ts). A file sent is stored here and queued before its
 * event is written, so both survive going offline; a file received is fetched from the
 * server on demand (`GET /v1/blobs/:hash`) and cached, bounded in bytes.
 */
import type { StorageAdapterInterface } from '@automerge/automerge-repo/slim'
import { isBlobHash } from '@parley/core'
import { ClientErrorCodes, ParleyError } from '../errors.ts'
import { LocalBlobs } from './local-blobs.ts'
import { UploadQueue, type UploadEndpoint } from './uploads.ts'

export { type UploadState, type UploadStatus } from './uploads.ts'

/** Bytes of received files kept on the device by default; files not yet uploaded come on top. */
export const DEFAULT_BLOB_CACHE_BYTES = 256 * 1024 * 1024

/** A file to send: its name, its type, its bytes. */
export interface FileInput {
  name: string
  /** Lowercase `type/subtype`; default application/octet-stream. The server checks it against the bytes. */
  type?: string
  bytes: Uint8Array
}

export class Attachments {
  readonly blobs: LocalBlobs
  readonly uploads: UploadQueue
  readonly #endpoint: UploadEndpoint | undefined

  private constructor(blobs: LocalBlobs, uploads: UploadQueue, endpoint: UploadEndpoint | undefined) {
    this.blobs = blobs
    this.uploads = uploads
    this.#endpoint = endpoint
  }

  static async open(storage: StorageAdapterInterface, options: { endpoint?: UploadEndpoint; maxCacheBytes?: number }): Promise<Attachments> {
    const blobs = await LocalBlobs.open(storage, options.maxCacheBytes ?? DEFAULT_BLOB_CACHE_BYTES)
    return new Attachments(blobs, await UploadQueue.open(storage, blobs, options.endpoint), options.endpoint)
  }

  /** Stores the file here (kept until uploaded) and queues its upload; resolves with its hash. */
  async store(file: FileInput): Promise<string> {
    const hash = await sha256Hex(file.bytes)
    await this.blobs.put(hash, file.bytes, true)
    await this.uploads.enqueue({ hash, mime: file.type ?? 'application/octet-stream', size: file.bytes.byteLength })
    return hash
  }

  /**
   * A blob's bytes: from this device, or fetched from the server (a member of a
   * conversation that references it may: `conversation`, the one it was seen in) and kept
   * in the cache.
   */
  async file(hash: string, conversation?: string): Promise<Uint8Array> {
    if (!isBlobHash(hash)) throw new ParleyError(ClientErrorCodes.INVALID_OPTION, 'a blob hash is 64 lowercase hex characters')
    const local = await this.blobs.get(hash)
    if (local) return local
    const endpoint = this.#endpoint
    if (!endpoint) throw new ParleyError(ClientErrorCodes.UNREACHABLE, 'this client has no server to fetch the file from')
    let response: Response
    try {
      // Naming the conversation it was seen in spares the server a search among every conversation that references it.
      const query = conversation === undefined ? '' : `?conversation=${encodeURIComponent(conversation)}`
      response = await fetch(`${endpoint.base}/v1/blobs/${hash}${query}`, { headers: { authorization: `Bearer ${await endpoint.token()}` } })
    } catch (cause) {
      throw new ParleyError(ClientErrorCodes.UNREACHABLE, 'the server could not be reached for the file', { cause })
    }
    if (response.status === 403) throw new ParleyError(ClientErrorCodes.FORBIDDEN, 'no conversation of yours references this file')
    if (!response.ok) throw new ParleyError(ClientErrorCodes.FILE_NOT_AVAILABLE, `the server has no file ${hash} (HTTP ${response.status}): its sender may not have uploaded it yet`)
    const bytes = new Uint8Array(await response.arrayBuffer())
    if ((await sha256Hex(bytes)) !== hash) throw new ParleyError(ClientErrorCodes.FILE_NOT_AVAILABLE, `the bytes received for ${hash} hash to something else`)
    await this.blobs.put(hash, bytes, false)
    return bytes
  }

  async close(): Promise<void> {
    await this.uploads.close()
    await this.blobs.flush()
  }
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>))
  return Array.from(digest, byte => byte.toString(16).padStart(2, '0')).join('')
}

/** `http(s)://HOST:PORT` for a sync URL `ws(s)://HOST:PORT/sync`. */
export function httpBase(syncUrl: string): string {
  return syncUrl.replace(/^ws/, 'http').replace(/\/sync$/, '')
}
