/**
 * Blobs in an S3-compatible store (`--blob-store s3://BUCKET/PREFIX`), through the AWS
 * SDK v3: one object per blob under `PREFIX/blobs/ab/cdef…` (store.ts). Only this
 * module talks to S3.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3'
import { createReadStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { blobKey, type BlobStore, type ByteRange } from './store.ts'

export interface S3BlobStoreOptions {
  bucket: string
  /** Ends with `/`, or empty. */
  prefix: string
  endpoint?: string
  region?: string
  credentials?: { accessKeyId: string; secretAccessKey: string }
}

export class S3BlobStore implements BlobStore {
  readonly #client: S3Client
  readonly #bucket: string
  readonly #prefix: string

  constructor(options: S3BlobStoreOptions) {
    this.#bucket = options.bucket
    this.#prefix = options.prefix
    this.#client = new S3Client({
      region: options.region ?? 'us-east-1',
      ...(options.endpoint !== undefined && { endpoint: options.endpoint, forcePathStyle: true }),
      ...(options.credentials && { credentials: options.credentials }),
      // Integrity is the SHA-256 the server checked before the put; the SDK's extra
      // checksums (aws-chunked trailers) are refused by many S3-compatible stores.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    })
  }

  #key(hash: string): string {
    return `${this.#prefix}blobs/${blobKey(hash)}`
  }

  async size(hash: string): Promise<number | undefined> {
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(hash) }))
      return head.ContentLength
    } catch (error) {
      if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404) return undefined
      throw error
    }
  }

  async put(hash: string, path: string, size: number): Promise<void> {
    if ((await this.size(hash)) === undefined) {
      const body = createReadStream(path)
      try {
        await this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: this.#key(hash), Body: body, ContentLength: size, ContentType: 'application/octet-stream' }))
      } finally {
        body.destroy()
      }
    }
    await rm(path, { force: true })
  }

  async read(hash: string, range?: ByteRange): Promise<Readable> {
    const object = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(hash), ...(range && { Range: `bytes=${range.start}-${range.end}` }) }))
    return object.Body as Readable
  }

  async close(): Promise<void> {
    this.#client.destroy()
  }
}
