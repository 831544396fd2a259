/**
 * Reads the header of one Automerge change chunk (hash, deps, actor, seq) from its bytes,
 * without decoding its operations: the relay needs only the graph, and a full
 * `Automerge.decodeChange` costs several times more.
 *
 * Layout (Automerge binary format, "Chunk container" and "Change chunks"):
 *   magic 85 6f 4a 83 | checksum (4 bytes) | type (1: change, 2: deflated change) |
 *   uLEB length | data
 * and a change's data starts with
 *   uLEB #deps, 32-byte hashes | uLEB actor length, actor bytes | uLEB seq | uLEB start op |
 *   sLEB time | uLEB message length, message | … (other actors, columns: not read here)
 * The hash is SHA-256 over type, length and data of the uncompressed chunk; its first
 * four bytes are the checksum, which is checked here so a corrupt or forged chunk never
 * enters a log under a hash it does not have.
 */
import { Reader } from '../access/chunk-format.ts'
import { hash } from 'node:crypto'
import { inflateRawSync } from 'node:zlib'

export interface ChangeMeta {
  /** Hex SHA-256 of the chunk, as Automerge names changes. */
  readonly hash: string
  /** Hex hashes of the changes this one depends on. */
  readonly deps: readonly string[]
  /** Hex actor ID. */
  readonly actor: string
  readonly seq: number
}

export class ChangeChunkError extends Error {
  override readonly name = 'ChangeChunkError'
}

const MAGIC = [0x85, 0x6f, 0x4a, 0x83] as const
const TYPE_CHANGE = 1
const TYPE_COMPRESSED_CHANGE = 2
const HASH_BYTES = 32
/** A deflated change may not inflate past this (a small chunk must not stall the loop). */
export const MAX_INFLATED_CHANGE_BYTES = 16 * 1024 * 1024

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

export function toHex(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let out = ''
  for (let i = start; i < end; i++) out += HEX[bytes[i]!]
  return out
}

export function encodeUleb(value: number): number[] {
  const out: number[] = []
  do {
    let byte = value % 128
    value = Math.floor(value / 128)
    if (value > 0) byte |= 0x80
    out.push(byte)
  } while (value > 0)
  return out
}

/**
 * Splits an entry of a sync message's `changes` into its chunks. Automerge may send
 * several change chunks concatenated in one entry (2.2.9 does so for a peer that has
 * nothing yet), so an entry is not always one change. Only the chunk container is read.
 */
export function splitChunks(bytes: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = []
  let offset = 0
  while (offset < bytes.length) {
    if (bytes.length - offset < 10) throw new ChangeChunkError('chunk too short')
    const header = new Reader(bytes, offset + 9)
    const length = header.uleb()
    const end = header.offset + length
    if (end > bytes.length) throw new ChangeChunkError('truncated chunk')
    chunks.push(bytes.subarray(offset, end))
    offset = end
  }
  return chunks
}

/**
 * 'document': a whole saved document where a change was expected (newer Automerge sends
 * one to a peer it believes empty); reading it needs Automerge and a size bound, so it is
 * refused unless an `expandDocument` is given, and the caller may fall back to a one-off
 * Automerge sync for that peer.
 */
export type RejectReason = 'malformed' | 'seq' | 'document'

const DOCUMENT_CHUNK = 0

/**
 * The change chunks of sync-message entries: each entry split, document chunks expanded
 * (or refused), anything unreadable reported through `reject`.
 */
export function* entryChunks(
  entries: Iterable<Uint8Array>,
  expandDocument: ((bytes: Uint8Array) => Uint8Array[]) | null,
  reject: (bytes: Uint8Array, reason: RejectReason, message: string) => void,
): Generator<Uint8Array> {
  for (const entry of entries) {
    let chunks: Uint8Array[]
    try {
      chunks = splitChunks(entry)
    } catch (error) {
      reject(entry, 'malformed', (error as Error).message)
      continue
    }
    for (const chunk of chunks) {
      if (chunk[8] !== DOCUMENT_CHUNK) {
        // A single chunk keeps the caller's buffer; one of several is copied so the log
        // does not pin the whole entry.
        yield chunks.length === 1 ? entry : chunk.slice()
      } else if (!expandDocument) {
        reject(chunk, 'document', 'a document chunk where changes were expected')
      } else {
        try {
          yield* expandDocument(chunk)
        } catch (error) {
          reject(chunk, 'malformed', (error as Error).message)
        }
      }
    }
  }
}

/**
 * Parses a change chunk's header and checks its checksum. Throws ChangeChunkError on
 * anything that is not exactly one well-formed change chunk (a document chunk, trailing
 * bytes, a checksum mismatch).
 */
export function parseChangeChunk(bytes: Uint8Array): ChangeMeta {
  if (bytes.length < 10) throw new ChangeChunkError('chunk too short')
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) throw new ChangeChunkError('not an Automerge chunk')
  const type = bytes[8]
  const header = new Reader(bytes, 9)
  const length = header.uleb()
  if (header.offset + length !== bytes.length) throw new ChangeChunkError('chunk length does not match its bytes')
  let data: Uint8Array
  let hashed: Uint8Array
  if (type === TYPE_CHANGE) {
    data = bytes.subarray(header.offset)
    hashed = bytes.subarray(8)
  } else if (type === TYPE_COMPRESSED_CHANGE) {
    try {
      data = inflateRawSync(bytes.subarray(header.offset), { maxOutputLength: MAX_INFLATED_CHANGE_BYTES })
    } catch (cause) {
      throw new ChangeChunkError('deflated change does not inflate', { cause })
    }
    hashed = new Uint8Array([TYPE_CHANGE, ...encodeUleb(data.length), ...data])
  } else {
    throw new ChangeChunkError(`chunk type ${String(type)} is not a change`)
  }
  const digest = hash('sha256', hashed, 'buffer')
  for (let i = 0; i < 4; i++) if (digest[i] !== bytes[4 + i]) throw new ChangeChunkError('chunk checksum mismatch')

  const reader = new Reader(data)
  const depCount = reader.uleb()
  if (depCount * HASH_BYTES > data.length) throw new ChangeChunkError('too many deps for the chunk size')
  const deps: string[] = []
  for (let i = 0; i < depCount; i++) {
    const start = reader.offset
    reader.skip(HASH_BYTES)
    deps.push(toHex(data, start, start + HASH_BYTES))
  }
  const actorLength = reader.uleb()
  const actorStart = reader.offset
  reader.skip(actorLength)
  const actor = toHex(data, actorStart, actorStart + actorLength)
  const seq = reader.uleb()
  if (seq < 1) throw new ChangeChunkError('change seq must be at least 1')
  return { hash: digest.toString('hex'), deps, actor, seq }
}
