/**
 * The attachment options (docs/attachments.md), checked once with the rest of the
 * server's options (config.ts).
 */
import { ParleyError, ServerErrorCodes } from '../errors.ts'

export interface BlobOptions {
  /** `s3://BUCKET[/PREFIX]`: keep blobs in an S3-compatible store; unset: under `<data>/blobs`. */
  blobStore?: string
  /** The S3 endpoint URL, for a store other than AWS (MinIO, Ceph, R2 …); path-style addressing is used then. */
  s3Endpoint?: string
  /** The S3 region (default us-east-1). */
  s3Region?: string
  /** S3 credentials; unset, the AWS SDK's own chain (AWS_ACCESS_KEY_ID …, profiles, instance roles). */
  s3AccessKeyId?: string
  s3SecretAccessKey?: string
  /** Largest blob one upload may declare, in bytes (default 100 MiB). */
  maxBlobBytes?: number
  /** Bytes of blobs one user may have stored or be uploading (default 1 GiB). */
  blobQuotaBytes?: number
}

/** One S3 PutObject carries at most 5 GiB: with S3, maxBlobBytes stays under it (s3-store.ts puts a blob in one request). */
export const MAX_S3_PUT_BYTES = 5 * 1024 ** 3

export const BLOB_DEFAULTS = { maxBlobBytes: 100 * 1024 * 1024, blobQuotaBytes: 1024 * 1024 * 1024 } as const
/** The options with their defaults filled (config.ts). */
export type ResolvedBlobOptions = BlobOptions & Required<Pick<BlobOptions, 'maxBlobBytes' | 'blobQuotaBytes'>>

export const BLOB_OPTIONAL = ['blobStore', 's3Endpoint', 's3Region', 's3AccessKeyId', 's3SecretAccessKey'] as const

/** Where blobs are kept, as `blobStore` names it. */
export type BlobLocation = { kind: 'file' } | { kind: 's3'; bucket: string; prefix: string }

const S3_URL = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/([A-Za-z0-9!_.*'()/-]*))?$/

function invalid(message: string): never {
  throw new ParleyError(ServerErrorCodes.INVALID_OPTION, message)
}

export function blobLocation(blobStore: string | undefined): BlobLocation {
  if (blobStore === undefined) return { kind: 'file' }
  const match = S3_URL.exec(blobStore)
  if (!match) invalid(`blobStore must be s3://BUCKET or s3://BUCKET/PREFIX, got ${JSON.stringify(blobStore)}`)
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '')
  return { kind: 's3', bucket: match[1]!, prefix: prefix && `${prefix}/` }
}

/** Throws PARLEY_ERR_INVALID_OPTION for anything wrong; the caller has filled the defaults. */
export function checkBlobOptions(options: ResolvedBlobOptions): void {
  const location = blobLocation(options.blobStore)
  for (const key of ['maxBlobBytes', 'blobQuotaBytes'] as const) {
    if (!Number.isSafeInteger(options[key]) || options[key] < 1) invalid(`${key} must be an integer ≥ 1, got ${options[key]}`)
  }
  if (location.kind === 's3' && options.maxBlobBytes > MAX_S3_PUT_BYTES) invalid(`maxBlobBytes must be at most ${MAX_S3_PUT_BYTES} with an S3 store`)
  const s3Given = options.s3Endpoint ?? options.s3Region ?? options.s3AccessKeyId ?? options.s3SecretAccessKey
  if (location.kind === 'file' && s3Given !== undefined) invalid('the s3 options need blobStore s3://BUCKET (--blob-store)')
  if (options.s3Endpoint !== undefined && !/^https?:\/\/[^\s/]+(\/\S*)?$/.test(options.s3Endpoint)) invalid(`s3Endpoint must be an http(s) URL, got ${JSON.stringify(options.s3Endpoint)}`)
  if ((options.s3AccessKeyId === undefined) !== (options.s3SecretAccessKey === undefined)) invalid('give both s3AccessKeyId and s3SecretAccessKey, or neither')
}
