/**
 * Automerge's sync messages carry "changes" that may each be several concatenated
 * chunks, or a whole saved document (the first sync of a document the other side
 * lacks). This splits them into single decoded changes so each can be checked.
 *
 * Chunk layout (Automerge binary format): 4 magic bytes, 4 checksum bytes, 1 type byte
 * (0 document, 1 change, 2 compressed change), a uLEB128 body length, the body. The
 * checksum (the first 4 bytes of SHA-256 over type, length and body) is verified here
 * first: Automerge's WASM decoder panics on some corrupt bodies, so random corruption
 * never reaches it.
 */
import { next as Automerge, type DecodedChange } from '@automerge/automerge'
import { hash } from 'node:crypto'
import { decodeChangeChunk } from './change-decode.ts'
import { ChunkError, measureChunk, type DecodeBudget } from './chunk-format.ts'

export { ChunkError, DECODE_BUDGET, type ChunkErrorKind, type DecodeBudget } from './chunk-format.ts'

/** The first bytes of every Automerge chunk. */
export const MAGIC = [0x85, 0x6f, 0x4a, 0x83]
const DOCUMENT_CHUNK = 0
const CHANGE_CHUNK = 1

/** An unsigned LEB128 number at `offset`, and where the next field starts. */
export function readUleb(bytes: Uint8Array, offset: number): { value: number; next: number } {
  let value = 0
  let shift = 0
  for (let i = offset; i < bytes.length && shift < 35; i++) {
    const byte = bytes[i]!
    value += (byte & 0x7f) * 2 ** shift
    if ((byte & 0x80) === 0) return { value, next: i + 1 }
    shift += 7
  }
  throw new ChunkError('truncated chunk length')
}

interface Chunk {
  type: number
  bytes: Uint8Array
  /** SHA-256 over type, length and body: a change chunk's hash. */
  digest: Buffer
}

/** The chunks of the blobs, checksums verified. */
function splitChunks(blobs: Uint8Array[]): Chunk[] {
  const chunks: Chunk[] = []
  for (const blob of blobs) {
    let offset = 0
    while (offset < blob.length) {
      if (blob.length - offset < 9 || MAGIC.some((byte, i) => blob[offset + i] !== byte)) throw new ChunkError('not an Automerge chunk')
      const type = blob[offset + 8]!
      const { value: length, next } = readUleb(blob, offset + 9)
      const end = next + length
      if (end > blob.length) throw new ChunkError('chunk longer than its message')
      const checksum = hash('sha256', blob.subarray(offset + 8, end), 'buffer')
      if (!checksum.subarray(0, 4).equals(blob.subarray(offset + 4, offset + 8))) throw new ChunkError('chunk checksum does not match')
      // A blob of one chunk is passed on as is: callers may key what they learn of it by the blob (relay/change-log.ts append).
      chunks.push({ type, bytes: offset === 0 && end === blob.length ? blob : blob.subarray(offset, end), digest: checksum })
      offset = end
    }
  }
  return chunks
}

/**
 * Charges the sender of a sync message for the work its changes measured to (rows and
 * inflated bytes, summed over its chunks); false: the sender may not spend that now.
 */
export type ChargeWork = (work: { rows: number; bytes: number }) => boolean

/**
 * Every change in the blobs of one sync message, decoded. Throws ChunkError on anything
 * malformed, beyond `budget` (kind `too-large`) or with ops it does not allow (`forbidden`),
 * all measured from their layout for all of them before Automerge decodes any: chunk-format.ts).
 * Without a budget nothing is measured: for bytes the server made itself, never a client's.
 * With `charge`, the measured work is charged to the sender between measuring and
 * decoding; a refusal throws a ChunkError of kind `rate-limited`.
 */
export function decodeChanges(blobs: Uint8Array[], budget?: DecodeBudget, charge?: ChargeWork): { decoded: DecodedChange[]; raw: Uint8Array[] } {
  const chunks = splitChunks(blobs)
  if (budget) {
    const left = { ...budget }
    for (const { type, bytes } of chunks) measureChunk(type, bytes.subarray(readUleb(bytes, 9).next), left)
    // Paid for before the decode it pays for (docs/security.md, "Rate limits weigh work").
    if (charge && !charge({ rows: budget.rows - left.rows, bytes: budget.bytes - left.bytes })) {
      throw new ChunkError('its sender has no budget left for decoding changes now', 'rate-limited')
    }
  }
  const decoded: DecodedChange[] = []
  const raw: Uint8Array[] = []
  for (const { type, bytes, digest } of chunks) {
    // What Parley's clients write is read in JavaScript; anything else by Automerge (change-decode.ts).
    const read = type === CHANGE_CHUNK ? decodeChangeChunk(bytes, digest.toString('hex')) : undefined
    if (read) {
      decoded.push(read)
      raw.push(bytes)
      continue
    }
    try {
      const changes = type === DOCUMENT_CHUNK ? Automerge.getAllChanges(Automerge.load(bytes)) : [bytes]
      for (const change of changes) {
        decoded.push(Automerge.decodeChange(change))
        raw.push(change)
      }
    } catch (cause) {
      throw new ChunkError(`undecodable chunk: ${(cause as Error).message}`)
    }
  }
  return { decoded, raw }
}
