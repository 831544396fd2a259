/**
 * Blobs on this device, in the replica's own storage (IndexedDB in a browser, LevelDB in
 * Node) under `['parley', 'blob', hash]`, with an index under `['parley', 'blobs']`. Files
 * this device sent are pinned until the server has them; everything else is a cache of
 * what was fetched, the least recently used dropped past `maxBytes`.
 */
import type { StorageAdapterInterface } from '@automerge/automerge-repo/slim'

const INDEX_KEY = ['parley', 'blobs']
const encoder = new TextEncoder()
const decoder = new TextDecoder()

interface Entry {
  size: number
  pinned: boolean
}

export class LocalBlobs {
  readonly #storage: StorageAdapterInterface
  readonly maxBytes: number
  /** Hash → entry, least recently used first. Bounded: unpinned entries past maxBytes are dropped. */
  readonly #entries: Map<string, Entry>
  #writes: Promise<unknown> = Promise.resolve()

  private constructor(storage: StorageAdapterInterface, maxBytes: number, entries: [string, Entry][]) {
    this.#storage = storage
    this.maxBytes = maxBytes
    this.#entries = new Map(entries)
  }

  static async open(storage: StorageAdapterInterface, maxBytes: number): Promise<LocalBlobs> {
    const bytes = await storage.load(INDEX_KEY)
    return new LocalBlobs(storage, maxBytes, bytes ? (JSON.parse(decoder.decode(bytes)) as [string, Entry][]) : [])
  }

  has(hash: string): boolean {
    return this.#entries.has(hash)
  }

  /** Bytes held, pinned or not. */
  get bytes(): number {
    let total = 0
    for (const entry of this.#entries.values()) total += entry.size
    return total
  }

  async get(hash: string): Promise<Uint8Array | undefined> {
    const entry = this.#entries.get(hash)
    if (!entry) return undefined
    const bytes = await this.#storage.load(['parley', 'blob', hash])
    if (!bytes) {
      this.#entries.delete(hash)
      return undefined
    }
    // Most recently used last.
    this.#entries.delete(hash)
    this.#entries.set(hash, entry)
    return bytes
  }

  /** Stores a blob; pinned ones (not on the server yet) are never dropped. */
  async put(hash: string, bytes: Uint8Array, pinned: boolean): Promise<void> {
    const existing = this.#entries.get(hash)
    this.#entries.delete(hash)
    this.#entries.set(hash, { size: bytes.byteLength, pinned: pinned || (existing?.pinned ?? false) })
    if (!existing) await this.#storage.save(['parley', 'blob', hash], bytes)
    await this.#evict()
  }

  /** The server has it now: it may be dropped like any cached blob. */
  async unpin(hash: string): Promise<void> {
    const entry = this.#entries.get(hash)
    if (!entry?.pinned) return
    entry.pinned = false
    await this.#evict()
  }

  async #evict(): Promise<void> {
    let total = this.bytes
    for (const [hash, entry] of [...this.#entries]) {
      if (total <= this.maxBytes) break
      if (entry.pinned) continue
      this.#entries.delete(hash)
      total -= entry.size
      await this.#storage.remove(['parley', 'blob', hash])
    }
    await this.#saveIndex()
  }

  #saveIndex(): Promise<unknown> {
    const snapshot = encoder.encode(JSON.stringify([...this.#entries]))
    this.#writes = this.#writes.then(() => this.#storage.save(INDEX_KEY, snapshot))
    return this.#writes
  }

  flush(): Promise<unknown> {
    return this.#writes
  }
}
