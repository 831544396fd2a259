/**
 * Changes the server makes to segments it serves from a log (HTTP publish, a segment it
 * starts), made with Automerge under the server's actor. The segment is loaded as a
 * document from its log once and then kept, brought up to date with only the changes
 * appended since (ChangeLog.changesSince), so a write costs the same on a segment of 10
 * events as on one of 1,000 (`sync-server/test/measure/server-change.ts`). At most `max`
 * documents are kept, least recently written first out; off the relay's hot path.
 */
import { next as A, type DecodedChange } from '@automerge/automerge'
import type { SegmentDoc } from '@parley/core'
import type { ChangeLog } from './change-log.ts'

/** Segments written over HTTP recently enough to keep as documents (each at most 512 KiB of changes: core SEGMENT_BYTES). */
export const SERVER_DOCS = 32

export class ServerChanges {
  readonly #actor: string
  readonly #max: number
  /** Least recently written first. */
  readonly #docs = new Map<string, A.Doc<SegmentDoc>>()

  constructor(actor: string, max = SERVER_DOCS) {
    this.#actor = actor
    this.#max = max
  }

  /** The new change (none when `change` changed nothing), to be appended to `log` by the caller. */
  make(segmentId: string, log: ChangeLog, change: (doc: SegmentDoc) => void): { changes: Uint8Array[]; decoded: DecodedChange[] } {
    const before = this.#current(segmentId, log)
    const heads = A.getHeads(before).join()
    const after = A.change(before, change)
    this.#keep(segmentId, after)
    // A change that changed nothing makes no change: the last local one is then an older one.
    const made = A.getHeads(after).join() === heads ? undefined : A.getLastLocalChange(after)
    return made ? { changes: [made], decoded: [A.decodeChange(made)] } : { changes: [], decoded: [] }
  }

  /** Drops a segment's document (its log was unloaded, or replaced). */
  forget(segmentId: string): void {
    const doc = this.#docs.get(segmentId)
    if (doc === undefined) return
    this.#docs.delete(segmentId)
    A.free(doc)
  }

  #current(segmentId: string, log: ChangeLog): A.Doc<SegmentDoc> {
    const kept = this.#docs.get(segmentId)
    this.#docs.delete(segmentId)
    if (kept === undefined) return log.size > 0 ? A.load<SegmentDoc>(log.concat(), { actor: this.#actor }) : A.init<SegmentDoc>({ actor: this.#actor })
    const since = log.changesSince(A.getHeads(kept))
    return since.length === 0 ? kept : A.applyChanges(kept, since.map(entry => entry.bytes))[0]
  }

  #keep(segmentId: string, doc: A.Doc<SegmentDoc>): void {
    this.#docs.set(segmentId, doc)
    if (this.#docs.size > this.#max) this.forget(this.#docs.keys().next().value!)
  }
}
