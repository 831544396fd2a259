/**
 * The Bloom filter of Automerge's sync protocol ("have" entries of a sync message),
 * written from the format: a peer summarises the changes it has since `lastSync` so the
 * other side sends only those the filter does not contain.
 *
 * Encoding: empty when there are no entries; otherwise uLEB entry count, uLEB bits per
 * entry, uLEB probe count, then ceil(entries × bitsPerEntry / 8) bytes of bits (bit i is
 * bit i % 8 of byte i / 8). Each hash gives its probes from its first 12 bytes read as
 * three little-endian u32 x, y, z (mod the bit count): x, then x += y, y += z, repeated.
 * 10 bits and 7 probes per entry give about 1 % false positives; the parameters travel in
 * the encoding, so a filter from a peer is read with the parameters it declares.
 */
import { Reader, ulebLength, Writer } from '../access/chunk-format.ts'
import { ChangeChunkError } from './change-chunk.ts'

export const BITS_PER_ENTRY = 10
export const PROBES = 7
/** A peer's filter may not declare more entries than this (its bits are allocated). */
export const MAX_BLOOM_ENTRIES = 1_000_000
/**
 * Parameters beyond Automerge's own (10 bits per entry, 7 probes) cost the server per
 * probe: 50 million probes declared in 9 bytes kept generateSyncMessage busy 5.7 s
 * (docs/security.md). Inbound sync messages are refused past these (sync-message.ts).
 */
export const MAX_BLOOM_BITS_PER_ENTRY = 32
export const MAX_BLOOM_PROBES = 32

export class BloomFilter {
  private constructor(
    readonly entries: number,
    readonly bitsPerEntry: number,
    readonly probes: number,
    readonly bits: Uint8Array,
  ) {}

  static fromHashes(hashes: Iterable<string>): BloomFilter {
    const list = [...hashes]
    const filter = new BloomFilter(list.length, BITS_PER_ENTRY, PROBES, new Uint8Array(Math.ceil((list.length * BITS_PER_ENTRY) / 8)))
    for (const hash of list) filter.#add(hash)
    return filter
  }

  /** Reads a filter from a peer; throws ChangeChunkError on bytes that are not one. */
  static decode(bytes: Uint8Array): BloomFilter {
    if (bytes.length === 0) return new BloomFilter(0, BITS_PER_ENTRY, PROBES, new Uint8Array(0))
    const reader = new Reader(bytes)
    const entries = reader.uleb()
    const bitsPerEntry = reader.uleb()
    const probes = reader.uleb()
    if (entries > MAX_BLOOM_ENTRIES || bitsPerEntry > MAX_BLOOM_BITS_PER_ENTRY || probes > MAX_BLOOM_PROBES) throw new ChangeChunkError('bloom filter parameters out of range')
    const length = Math.ceil((entries * bitsPerEntry) / 8)
    if (bytes.length - reader.offset !== length) throw new ChangeChunkError('bloom filter length does not match its parameters')
    return new BloomFilter(entries, bitsPerEntry, probes, reader.take(length))
  }

  encode(): Uint8Array {
    if (this.entries === 0) return new Uint8Array(0)
    const writer = new Writer(ulebLength(this.entries) + ulebLength(this.bitsPerEntry) + ulebLength(this.probes) + this.bits.length)
    writer.uleb(this.entries)
    writer.uleb(this.bitsPerEntry)
    writer.uleb(this.probes)
    writer.write(this.bits)
    return writer.bytes
  }

  /** False means certainly absent; true means present or a false positive. */
  contains(hash: string): boolean {
    if (this.entries === 0 || this.bits.length === 0) return false
    return this.#probe(hash, false)
  }

  #add(hash: string): void {
    this.#probe(hash, true)
  }

  /**
   * Walks the hash's probes, setting their bits (`set`) or checking them; false when a bit
   * checked is clear. Automerge's order: x, then x += y, y += z; at least one probe. No
   * array or substring per hash: a peer far behind has a filter of every change it lacks
   * built for it (peer-sync.ts haveSince).
   */
  #probe(hash: string, set: boolean): boolean {
    const modulo = this.bits.length * 8
    let x = wordAt(hash, 0) % modulo
    let y = wordAt(hash, 4) % modulo
    const z = wordAt(hash, 8) % modulo
    const probes = Math.max(1, this.probes)
    for (let i = 0; i < probes; i++) {
      const byte = x >>> 3
      const bit = 1 << (x & 7)
      if (set) this.bits[byte]! |= bit
      else if ((this.bits[byte]! & bit) === 0) return false
      x = (x + y) % modulo
      y = (y + z) % modulo
    }
    return true
  }
}

/** The little-endian u32 at byte `offset` of a hex hash. */
function wordAt(hex: string, offset: number): number {
  const at = offset * 2
  return byteAt(hex, at) + byteAt(hex, at + 2) * 0x100 + byteAt(hex, at + 4) * 0x1_0000 + byteAt(hex, at + 6) * 0x100_0000
}

function byteAt(hex: string, at: number): number {
  return hexDigit(hex.charCodeAt(at)) * 16 + hexDigit(hex.charCodeAt(at + 1))
}

function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48
  if (code >= 97 && code <= 102) return code - 87
  if (code >= 65 && code <= 70) return code - 55
  throw new ChangeChunkError('a hash is not hex')
}
