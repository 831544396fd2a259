/**
 * Where verified blobs live, content-addressed: a blob's name is the SHA-256 of its
 * bytes, so one sent twice is stored once. Two implementations side by side: the data
 * directory (file-store.ts) and an S3-compatible store (s3-store.ts). Uploads are staged
 * apart (uploads.ts); `put` takes a staged file whose hash was checked.
 */
import type { Readable } from 'node:stream'

/** Inclusive byte offsets, as an HTTP Range names them. */
export interface ByteRange {
  start: number
  end: number
}

export interface BlobStore {
  /** The blob's size in bytes, or undefined when it is not stored. */
  size(hash: string): Promise<number | undefined>
  /** Moves the staged file at `path` (`size` bytes, already hashed to `hash`) into the store; a blob already there is kept and the file dropped. */
  put(hash: string, path: string, size: number): Promise<void>
  /** The blob's bytes, or the range of them. */
  read(hash: string, range?: ByteRange): Promise<Readable>
  close(): Promise<void>
}

/** `ab/cdef…`: two hex characters of fan-out keep any one directory (or listing) small. */
export function blobKey(hash: string): string {
  return `${hash.slice(0, 2)}/${hash.slice(2)}`
}
