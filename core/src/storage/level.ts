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
 *
 * Each value also carries a CRC-32 of stamp and data: `[0x01][crc32][stamp][data]`.
 * A value whose checksum does not match (a flipped byte on disk, a torn write) is never
 * handed to automerge-repo: it is reported through `onCorrupt`, moved aside under
 * QUARANTINE_PREFIX, and the document loads from its other chunks; the sync protocol
 * then fetches what it lacks from the peers that hold it. Values written before the
 * checksum (no 0x01 byte in front) are read as before, unchecked.
 */
import type { Chunk, StorageAdapterInterface, StorageKey } from '@automerge/automerge-repo'
import { CoreErrorCodes, ParleyError } from '../errors.ts'
import { crc32 } from './checksum.ts'

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
/** First byte of a checksummed value. A legacy value starts with its stamp (a float64 near 2^50: 0x43). */
const CHECKSUMMED = 0x01
const CRC_BYTES = 4
const HEADER_BYTES = 1 + CRC_BYTES + STAMP_BYTES
/** Where a corrupt value is moved, keyed by its original key: out of every document's range. */
export const QUARANTINE_PREFIX = 'parley-quarantine'
let lastStamp = 0

/** Prefixes the value with a checksum and a save stamp that increases within and across processes. */
function sealed(data: Uint8Array): Uint8Array {
  lastStamp = Math.max(Date.now() * 1024, lastStamp + 1)
  const out = new Uint8Array(HEADER_BYTES + data.byteLength)
  const view = new DataView(out.buffer)
  out[0] = CHECKSUMMED
  view.setFloat64(1 + CRC_BYTES, lastStamp)
  out.set(data, HEADER_BYTES)
  view.setUint32(1, crc32(out.subarray(1 + CRC_BYTES)))
  return out
}

interface Opened {
  stamp: number
  data: Uint8Array
}

/** Stamp and data of a stored value, or why it cannot be trusted. */
function open(stored: Uint8Array): Opened | { corrupt: string } {
  const view = new DataView(stored.buffer, stored.byteOffset, stored.byteLength)
  if (stored[0] !== CHECKSUMMED) {
    if (stored.byteLength < STAMP_BYTES) return { corrupt: `a ${stored.byteLength}-byte value is shorter than its stamp` }
    return { stamp: view.getFloat64(0), data: new Uint8Array(stored.buffer, stored.byteOffset + STAMP_BYTES, stored.byteLength - STAMP_BYTES) }
  }
  if (stored.byteLength < HEADER_BYTES) return { corrupt: `a ${stored.byteLength}-byte value is shorter than its header` }
  const expected = view.getUint32(1)
  const actual = crc32(stored.subarray(1 + CRC_BYTES))
  if (expected !== actual) return { corrupt: `checksum mismatch (stored ${expected.toString(16)}, computed ${actual.toString(16)})` }
  // A plain Uint8Array view: classic-level hands back Buffers.
  return { stamp: view.getFloat64(1 + CRC_BYTES), data: new Uint8Array(stored.buffer, stored.byteOffset + HEADER_BYTES, stored.byteLength - HEADER_BYTES) }
}

export interface LevelStorageOptions {
  /** Told about every value that failed its checksum (it is then quarantined and treated as absent). */
  onCorrupt?: (key: StorageKey, reason: string) => void
}

export class LevelStorageAdapter implements StorageAdapterInterface {
  readonly #db: LevelDatabase
  readonly #onCorrupt: (key: StorageKey, reason: string) => void

  constructor(db: LevelDatabase, options: LevelStorageOptions = {}) {
    this.#db = db
    this.#onCorrupt = options.onCorrupt ?? (() => {})
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    const encoded = encodeKey(key)
    const stored = await this.#db.get(encoded)
    if (!stored) return undefined
    const opened = open(stored)
    if ('corrupt' in opened) {
      await this.#quarantine(encoded, stored, opened.corrupt)
      return undefined
    }
    return opened.data
  }

  save(key: StorageKey, data: Uint8Array): Promise<void> {
    return this.#db.put(encodeKey(key), sealed(data))
  }

  remove(key: StorageKey): Promise<void> {
    return this.#db.del(encodeKey(key))
  }

  async loadRange(prefix: StorageKey): Promise<Chunk[]> {
    const stored: { key: string; stamp: number; data: Uint8Array }[] = []
    for await (const [key, value] of this.#db.iterator(prefixRange(prefix))) {
      const opened = open(value)
      if ('corrupt' in opened) await this.#quarantine(key, value, opened.corrupt)
      else stored.push({ key, ...opened })
    }
    stored.sort((a, b) => a.stamp - b.stamp)
    return stored.map(({ key, data }) => ({ key: key.split(SEPARATOR), data }))
  }

  /**
   * Moves a corrupt value aside (kept for inspection, out of every document's range) and
   * reports it. Best effort: a failure to move it leaves it in place, still skipped.
   */
  async #quarantine(key: string, stored: Uint8Array, reason: string): Promise<void> {
    this.#onCorrupt(key.split(SEPARATOR), reason)
    try {
      await this.#db.put(`${QUARANTINE_PREFIX}${SEPARATOR}${key}`, stored)
      // Only if nobody rewrote the key meanwhile (keys are content hashes: a rewrite is the good copy).
      const current = await this.#db.get(key)
      if (current && sameBytes(current, stored)) await this.#db.del(key)
    } catch {
      // Still skipped on every read; reported again then.
    }
  }

  removeRange(prefix: StorageKey): Promise<void> {
    return this.#db.clear(prefixRange(prefix))
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
