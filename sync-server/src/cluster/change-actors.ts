/**
 * The actors (Automerge's writer IDs) of the changes in a sync message, read from the
 * chunk headers without decoding the changes: this runs for every message a node sends
 * to the others, so it must cost microseconds, not a decode.
 *
 * Chunk: 4 magic bytes, 4 checksum bytes, 1 type byte, uLEB128 body length, body.
 * - change (1): body = uLEB dependency count, 32 bytes per dependency, uLEB actor length, actor;
 * - compressed change (2): the same body, raw-DEFLATE compressed;
 * - document (0): body = uLEB actor count, then each actor as uLEB length + bytes.
 */
import { inflateRawSync } from 'node:zlib'
import { ChunkError, DECODE_BUDGET, MAGIC, readUleb as uleb } from '../access/chunks.ts'

const HASH_BYTES = 32

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

function readActor(body: Uint8Array, offset: number): { actor: string; next: number } {
  const length = uleb(body, offset)
  const end = length.next + length.value
  if (end > body.length) throw new Error('actor longer than its chunk')
  return { actor: hex(body.subarray(length.next, end)), next: end }
}

/**
 * A compressed change's body, inflated to at most the guard's decode budget
 * (access/chunk-format.ts): a few KB of DEFLATE can inflate to gigabytes.
 */
function inflateBounded(body: Uint8Array): Uint8Array {
  try {
    return inflateRawSync(body, { maxOutputLength: DECODE_BUDGET.bytes })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new ChunkError(`a compressed change inflates to more than ${DECODE_BUDGET.bytes} bytes`, 'too-large')
    throw error
  }
}

function changeActor(body: Uint8Array): string {
  const deps = uleb(body, 0)
  return readActor(body, deps.next + deps.value * HASH_BYTES).actor
}

function documentActors(body: Uint8Array): string[] {
  const count = uleb(body, 0)
  const actors: string[] = []
  let offset = count.next
  for (let i = 0; i < count.value; i++) {
    const { actor, next } = readActor(body, offset)
    actors.push(actor)
    offset = next
  }
  return actors
}

/** Every actor with a change in these blobs (each may hold several chunks). Throws on anything malformed. */
export function changeActors(blobs: Uint8Array[]): Set<string> {
  const actors = new Set<string>()
  for (const blob of blobs) {
    let offset = 0
    while (offset < blob.length) {
      if (blob.length - offset < 9 || MAGIC.some((byte, i) => blob[offset + i] !== byte)) throw new Error('not an Automerge chunk')
      const type = blob[offset + 8]
      const length = uleb(blob, offset + 9)
      const end = length.next + length.value
      if (end > blob.length) throw new Error('chunk longer than its message')
      const body = blob.subarray(length.next, end)
      if (type === 1) actors.add(changeActor(body))
      else if (type === 2) actors.add(changeActor(inflateBounded(body)))
      else if (type === 0) for (const actor of documentActors(body)) actors.add(actor)
      offset = end
    }
  }
  return actors
}
