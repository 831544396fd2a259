/** Blobs under the data directory: `<data>/blobs/ab/cdef…` (store.ts). */
import { createReadStream } from 'node:fs'
import { mkdir, rename, rm, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Readable } from 'node:stream'
import { blobKey, type BlobStore, type ByteRange } from './store.ts'

export class FileBlobStore implements BlobStore {
  readonly #directory: string

  constructor(directory: string) {
    this.#directory = directory
  }

  #path(hash: string): string {
    return join(this.#directory, blobKey(hash))
  }

  async size(hash: string): Promise<number | undefined> {
    try {
      return (await stat(this.#path(hash))).size
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
  }

  async put(hash: string, path: string): Promise<void> {
    if ((await this.size(hash)) !== undefined) return void (await rm(path, { force: true }))
    const target = this.#path(hash)
    await mkdir(dirname(target), { recursive: true })
    // The staging directory is under the same data directory: a rename, atomic, no copy.
    await rename(path, target)
  }

  async read(hash: string, range?: ByteRange): Promise<Readable> {
    const stream = createReadStream(this.#path(hash), range ? { start: range.start, end: range.end } : {})
    await new Promise<void>((resolve, reject) => stream.once('open', () => resolve()).once('error', reject))
    return stream
  }

  async close(): Promise<void> {}
}
