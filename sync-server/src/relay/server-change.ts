/**
 * A change the server makes to a segment it serves from a log (HTTP publish, a segment it
 * starts): the log is loaded as a document (segments are capped at 512 KiB, so this is
 * small), changed with Automerge under the server's actor, and the new change chunks are
 * returned for the hub to append. Off the relay's hot path: one per HTTP write.
 */
import { next as A, type DecodedChange } from '@automerge/automerge'
import type { SegmentDoc } from '@parley/core'
import type { ChangeLog } from './change-log.ts'

export function serverChange(log: ChangeLog, actor: string, change: (doc: SegmentDoc) => void): { changes: Uint8Array[]; decoded: DecodedChange[] } {
  const before = log.size > 0 ? A.load<SegmentDoc>(log.concat(), { actor }) : A.init<SegmentDoc>({ actor })
  const after = A.change(before, change)
  const changes = A.getChanges(before, after)
  return { changes, decoded: changes.map(bytes => A.decodeChange(bytes)) }
}
