/**
 * automerge-repo storage over any abstract-level database: classic-level (LevelDB) on
 * the server and in Node clients, browser-level (IndexedDB) in browsers. The database
 * is injected, so this module does no I/O of its own and runs anywhere.
 *
 * Keys are the parts joined by NUL. A prefix range [prefix, prefix + "\x01") then holds
 * exactly the key equal to the prefix and the keys that continue it with NUL, never a
 * sibling that merely starts with the same characters ("ab" under prefix "a").
 *
 * Each value carries an 8-byte save stamp so `loadRange` returns chunks in the order
 * they were saved, as automerge-repo's own adapter suite expects (LevelDB itself
 * iterates in key order).
 */
import type { Chunk, StorageAdapterInterface, StorageKey } from '@automerge/automerge-repo'
import { CoreErrorCodes, ParleyError } from '../errors.ts'

/** The part of abstract-level's API this adapter uses (string keys, Uint8Array values). */
export interface LevelDatabase {
  get(key: string): Promise<Uint8Array | undefined>
  put(key: string, value: Uint8Array): Promise<void>
  del(key: string): Promise<void>
  iterator(options: { gte?: string; lt?: string }): AsyncIterable<[string, Uint8Array]> & { close(): Promise<void> }
  clear(options: { gte?: string; lt?: string }): Promise<void>
}

const SEPARATOR = '\u0000'

function encodeKey(key: StorageKey): string {
  for (const part of key) {
    if (part.includes(SEPARATOR)) throw new ParleyError(CoreErrorCodes.INVALID_DOCUMENT, 'a storage key part contains NUL')
  }
  return key.join(SEPARATOR)
}

function prefixRange(prefix: StorageKey): { gte?: string; lt?: string } {
  if (prefix.length === 0) return {}
  const start = encodeKey(prefix)
  return { gte: start, lt: `${start}\u0001` }
}

const STAMP_BYTES = 8
let lastStamp = 0

/** Prefixes the value with a save stamp that increases within and across processes. */
function stamped(data: Uint8Array): Uint8Array {
  lastStamp = Math.max(Date.now() * 1024, lastStamp + 1)
  const out = new Uint8Array(STAMP_BYTES + data.byteLength)
  new DataView(out.buffer).setFloat64(0, lastStamp)
  out.set(data, STAMP_BYTES)
  return out
}

function stampOf(stored: Uint8Array): number {
  return new DataView(stored.buffer, stored.byteOffset, STAMP_BYTES).getFloat64(0)
}

/** The value without its stamp, as a plain Uint8Array view (classic-level hands back Buffers). */
function unstamped(stored: Uint8Array): Uint8Array {
  return new Uint8Array(stored.buffer, stored.byteOffset + STAMP_BYTES, stored.byteLength - STAMP_BYTES)
}

export class LevelStorageAdapter implements StorageAdapterInterface {
  readonly #db: LevelDatabase

  constructor(db: LevelDatabase) {
    this.#db = db
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    const stored = await this.#db.get(encodeKey(key))
    return stored && unstamped(stored)
  }

  save(key: StorageKey, data: Uint8Array): Promise<void> {
    return this.#db.put(encodeKey(key), stamped(data))
  }

  remove(key: StorageKey): Promise<void> {
    return this.#db.del(encodeKey(key))
  }

  async loadRange(prefix: StorageKey): Promise<Chunk[]> {
    const stored: { key: string; value: Uint8Array }[] = []
    for await (const [key, value] of this.#db.iterator(prefixRange(prefix))) stored.push({ key, value })
    stored.sort((a, b) => stampOf(a.value) - stampOf(b.value))
    return stored.map(({ key, value }) => ({ key: key.split(SEPARATOR), data: unstamped(value) }))
  }

  removeRange(prefix: StorageKey): Promise<void> {
    return this.#db.clear(prefixRange(prefix))
  }
}
