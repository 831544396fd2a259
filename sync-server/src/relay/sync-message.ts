/**
 * Automerge's sync message, encoded and decoded in JavaScript: no WASM call and no
 * JS↔WASM copy on the server's hot path (issue 15), and the bounds checked while reading.
 * Same bytes and same decoded value as `Automerge.encodeSyncMessage`/`decodeSyncMessage`
 * of the pinned @automerge/automerge (test/relay/sync-message.test.ts checks both).
 *
 * Layout (uLEB = unsigned LEB128 without padding; a hash is 32 bytes, lowercase hex here):
 *   type        one byte: 0x42 (v1) or 0x43 (v2: `changes` may hold one whole saved
 *               document instead of changes; sent only to peers that advertise it)
 *   heads       uLEB count, hashes
 *   need        uLEB count, hashes
 *   have        uLEB count, each: lastSync (uLEB count, hashes), uLEB length, Bloom filter
 *               (relay/bloom.ts; read as Automerge reads it: bytes past its bits ignored,
 *               a filter of no entries is empty)
 *   changes     uLEB count, each uLEB length and bytes
 *   capabilities  only when bytes remain: uLEB count, one byte each (1 message-v1,
 *               2 message-v2, others unknown and skipped); anything after is ignored.
 *
 * Decoding is bounded by default (INBOUND_LIMITS, what a client may send: the limits the
 * frame check enforces, network/frames.ts) and throws only SyncMessageError, `too-large`
 * past a limit, `malformed` for bytes Automerge would refuse too.
 */
import { ChunkError, DECODE_BUDGET, Reader, ulebLength, Writer, type ChunkErrorKind } from '../access/chunk-format.ts'
import { MAX_BLOOM_BITS_PER_ENTRY, MAX_BLOOM_ENTRIES, MAX_BLOOM_PROBES } from './bloom.ts'

export type SyncMessageVersion = 'v1' | 'v2'
export type Capability = 'message-v1' | 'message-v2'

export interface WireHave {
  lastSync: string[]
  bloom: Uint8Array
}

/** A decoded sync message: the shape of Automerge's DecodedSyncMessage, so either reads it. */
export interface DecodedSyncMessage {
  heads: string[]
  need: string[]
  have: WireHave[]
  changes: Uint8Array[]
  type: SyncMessageVersion
  /** Present only when the message lists them (a peer's first message). */
  supportedCapabilities?: Capability[]
}

/** What encodeSyncMessage takes: `type` other than 'v2' is v1; capabilities are written when given. */
export interface SyncMessageInput {
  readonly heads: readonly string[]
  readonly need: readonly string[]
  readonly have: readonly { readonly lastSync: readonly string[]; readonly bloom: Uint8Array }[]
  readonly changes: readonly Uint8Array[]
  readonly type?: string
  readonly supportedCapabilities?: readonly string[] | null
}

export interface SyncMessageLimits {
  /** Hashes in heads, need and every lastSync, together. */
  readonly hashes: number
  readonly changes: number
  readonly bloomEntries: number
  readonly bloomBitsPerEntry: number
  readonly bloomProbes: number
}

/** Hashes (heads, need, and each have's lastSync) one sync message may list, together. */
export const MAX_SYNC_HASHES = 8_192

/**
 * What a client may send. Decoding costs per listed item (a 1 MB frame of a million empty
 * changes blocked the loop 1.3 s) and answering per Bloom probe (docs/security.md): at
 * most as many changes as a message's chunks may decode to rows (access/chunk-format.ts).
 */
export const INBOUND_LIMITS: SyncMessageLimits = Object.freeze({
  hashes: MAX_SYNC_HASHES,
  changes: DECODE_BUDGET.rows,
  bloomEntries: MAX_BLOOM_ENTRIES,
  bloomBitsPerEntry: MAX_BLOOM_BITS_PER_ENTRY,
  bloomProbes: MAX_BLOOM_PROBES,
})

/** For messages the server built itself (a catch-up may carry more than a client may send). */
export const UNBOUNDED: SyncMessageLimits = Object.freeze({ hashes: Infinity, changes: Infinity, bloomEntries: Infinity, bloomBitsPerEntry: Infinity, bloomProbes: Infinity })

export class SyncMessageError extends ChunkError {
  constructor(message: string, kind: ChunkErrorKind = 'malformed', options?: { cause?: unknown }) {
    super(message, kind)
    if (options?.cause !== undefined) this.cause = options.cause
  }
}

const HASH_BYTES = 32
const V1 = 0x42
const V2 = 0x43
const U32_MAX = 0xffff_ffff
const CAPABILITY_BYTES: Readonly<Record<Capability, number>> = { 'message-v1': 1, 'message-v2': 2 }

export function decodeSyncMessage(bytes: Uint8Array, limits: SyncMessageLimits = INBOUND_LIMITS): DecodedSyncMessage {
  if (!(bytes instanceof Uint8Array)) throw new SyncMessageError('not an Automerge sync message: not bytes')
  try {
    return read(bytes, limits)
  } catch (error) {
    if (error instanceof SyncMessageError) throw error
    throw new SyncMessageError(`not an Automerge sync message: ${error instanceof Error ? error.message : String(error)}`, 'malformed', { cause: error })
  }
}

/**
 * Reads with two views of the same memory: a plain Uint8Array (a Buffer's subarray, from
 * CBOR, is several times slower) and a Buffer, whose hex encoder is several times faster
 * than a table in JavaScript. No closures: the server runs under tsx, which wraps each.
 */
function read(input: Uint8Array, limits: SyncMessageLimits): DecodedSyncMessage {
  const bytes = input.constructor === Uint8Array ? input : new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
  const hex = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength)
  const reader = new Reader(bytes)
  const first = reader.take(1)[0]!
  if (first !== V1 && first !== V2) throw new SyncMessageError(`not an Automerge sync message: message type 0x${first.toString(16)}`)
  const counted = { hashes: 0 }
  const heads = readHashes(reader, hex, counted, limits)
  const need = readHashes(reader, hex, counted, limits)
  const haveCount = reader.count(2, true)
  const have = new Array<WireHave>(haveCount)
  for (let i = 0; i < haveCount; i++) {
    const lastSync = readHashes(reader, hex, counted, limits)
    have[i] = { lastSync, bloom: readBloom(reader.prefixed(true), limits).slice() }
  }
  const changeCount = reader.count(1, true)
  if (changeCount > limits.changes) throw new SyncMessageError(`sync message carries more than ${limits.changes} changes`, 'too-large')
  const changes = new Array<Uint8Array>(changeCount)
  // Copies: a change kept in a log must not hold on to the whole frame it came in.
  for (let i = 0; i < changeCount; i++) changes[i] = reader.prefixed(true).slice()
  const message: DecodedSyncMessage = { heads, need, have, changes, type: first === V2 ? 'v2' : 'v1' }
  if (reader.remaining > 0) {
    const listed = reader.take(reader.uleb(true))
    const capabilities: Capability[] = []
    for (let i = 0; i < listed.length; i++) {
      if (listed[i] === 1) capabilities.push('message-v1')
      else if (listed[i] === 2) capabilities.push('message-v2')
    }
    message.supportedCapabilities = capabilities
  }
  return message
}

function readHashes(reader: Reader, hex: Buffer, counted: { hashes: number }, limits: SyncMessageLimits): string[] {
  const count = reader.count(HASH_BYTES, true)
  counted.hashes += count
  if (counted.hashes > limits.hashes) throw new SyncMessageError(`sync message lists more than ${limits.hashes} hashes`, 'too-large')
  let at = reader.offset
  reader.skip(count * HASH_BYTES)
  const out = new Array<string>(count)
  for (let i = 0; i < count; i++, at += HASH_BYTES) out[i] = hex.toString('hex', at, at + HASH_BYTES)
  return out
}

/**
 * A Bloom filter's bytes as Automerge keeps them (a view of `bytes`): empty when it has
 * no entries, otherwise its header and exactly its bits. Throws past `limits`.
 */
function readBloom(bytes: Uint8Array, limits: SyncMessageLimits): Uint8Array {
  if (bytes.length === 0) return bytes
  const reader = new Reader(bytes)
  const entries = reader.uleb(true)
  const bitsPerEntry = reader.uleb(true)
  const probes = reader.uleb(true)
  if (entries > U32_MAX || bitsPerEntry > U32_MAX || probes > U32_MAX) throw new SyncMessageError('not an Automerge sync message: a Bloom filter parameter exceeds 32 bits')
  if (bitsPerEntry > limits.bloomBitsPerEntry || probes > limits.bloomProbes) {
    throw new SyncMessageError(`sync message has a Bloom filter with more than ${limits.bloomBitsPerEntry} bits per entry or ${limits.bloomProbes} probes`, 'too-large')
  }
  if (entries > limits.bloomEntries) throw new SyncMessageError(`sync message has a Bloom filter of more than ${limits.bloomEntries} entries`, 'too-large')
  reader.skip(Math.ceil((entries * bitsPerEntry) / 8))
  return entries === 0 ? bytes.subarray(0, 0) : bytes.subarray(0, reader.offset)
}

/** Throws SyncMessageError on a hash that is not 64 hex digits, a Bloom filter that does not read, or an unknown capability. */
export function encodeSyncMessage(message: SyncMessageInput): Uint8Array {
  const { heads, need, have, changes } = message
  const capabilities = message.supportedCapabilities ?? undefined
  const blooms = new Array<Uint8Array>(have.length)
  let length = 1 + hashesLength(heads) + hashesLength(need) + ulebLength(have.length) + ulebLength(changes.length)
  for (let i = 0; i < have.length; i++) {
    const bloom = canonicalBloom(have[i]!.bloom)
    blooms[i] = bloom
    length += hashesLength(have[i]!.lastSync) + ulebLength(bloom.length) + bloom.length
  }
  for (let i = 0; i < changes.length; i++) length += ulebLength(changes[i]!.length) + changes[i]!.length
  if (capabilities) length += ulebLength(capabilities.length) + capabilities.length

  const writer = new Writer(length)
  const hex = Buffer.from(writer.bytes.buffer, writer.bytes.byteOffset, writer.bytes.byteLength)
  writer.byte(message.type === 'v2' ? V2 : V1)
  writeHashes(writer, hex, heads)
  writeHashes(writer, hex, need)
  writer.uleb(have.length)
  for (let i = 0; i < have.length; i++) {
    writeHashes(writer, hex, have[i]!.lastSync)
    writer.uleb(blooms[i]!.length)
    writer.write(blooms[i]!)
  }
  writer.uleb(changes.length)
  for (let i = 0; i < changes.length; i++) {
    writer.uleb(changes[i]!.length)
    writer.write(changes[i]!)
  }
  if (capabilities) {
    writer.uleb(capabilities.length)
    for (const capability of capabilities) {
      const byte = Object.hasOwn(CAPABILITY_BYTES, capability) ? CAPABILITY_BYTES[capability as Capability] : undefined
      if (byte === undefined) throw new SyncMessageError(`unknown sync capability ${JSON.stringify(capability).slice(0, 40)}`)
      writer.byte(byte)
    }
  }
  return writer.bytes
}

function hashesLength(list: readonly string[]): number {
  return ulebLength(list.length) + list.length * HASH_BYTES
}

function writeHashes(writer: Writer, hex: Buffer, list: readonly string[]): void {
  writer.uleb(list.length)
  for (let i = 0; i < list.length; i++) {
    const hash = list[i]!
    if (typeof hash !== 'string' || hash.length !== 2 * HASH_BYTES || hex.write(hash, writer.offset, HASH_BYTES, 'hex') !== HASH_BYTES) {
      throw new SyncMessageError(`not a change hash: ${JSON.stringify(hash).slice(0, 80)}`)
    }
    writer.skip(HASH_BYTES)
  }
}

/** A Bloom filter to send, as Automerge writes it (it reads the filter and writes it anew). */
function canonicalBloom(bloom: Uint8Array): Uint8Array {
  try {
    return readBloom(bloom, UNBOUNDED)
  } catch (error) {
    throw new SyncMessageError(`a Bloom filter to encode does not read: ${(error as Error).message}`, 'malformed', { cause: error })
  }
}
