/**
 * Hand-built Automerge bytes for tests (exported by `@parley/sync-server/testing`):
 * hostile and edge-case chunks and sync messages that Automerge itself would never write.
 * The layout is the one access/chunks.ts reads.
 */
import { createHash } from 'node:crypto'
import { MAGIC } from './access/chunks.ts'
import { encodeUleb as uleb } from './relay/change-chunk.ts'

/** `value` as an unsigned LEB128 number (the relay core's encoder). */
export { uleb }

/** A chunk of `type` (0 document, 1 change, 2 compressed change) around `body`, its checksum made to match. */
export function automergeChunk(type: number, body: Uint8Array): Uint8Array {
  const rest = new Uint8Array([type, ...uleb(body.length), ...body])
  return new Uint8Array([...MAGIC, ...createHash('sha256').update(rest).digest().subarray(0, 4), ...rest])
}
