/**
 * The loaded part of a conversation's log: the newest segments, paged back on demand.
 * Opening and appending touch only the newest segment, so their cost does not grow with
 * history. Events arrive through each segment handle's patches, so a sync that adds one
 * event parses one event, not the whole segment.
 */
import type { DocHandle, DocHandleChangePayload, DocumentId } from '@automerge/automerge-repo/slim'
import { parseEvent, readSegmentEvents, readString, type ParleyEvent, type SegmentDoc } from '@parley/core'
import type { ClientContext } from './context.ts'

export class EventLog {
  readonly events = new Map<string, ParleyEvent>()
  readonly segments = new Map<string, DocHandle<SegmentDoc>>()
  /** The oldest loaded segment; everything after it in the head's list is loaded too. */
  #oldest: string | undefined
  readonly #ctx: ClientContext
  readonly #onEvents: () => void
  /** Listed segments nobody had when asked (their writer was offline); followed once they arrive. */
  readonly #awaited = new Set<string>()
  #closed = false

  constructor(ctx: ClientContext, onEvents: () => void) {
    this.#ctx = ctx
    this.#onEvents = onEvents
  }

  messageCount(): number {
    let count = 0
    for (const event of this.events.values()) if (event.type === 'message') count++
    return count
  }

  /** Loads every segment newer than the oldest loaded one, then older ones until `minMessages` show. */
  async loadNewest(segmentIds: string[], minMessages: number): Promise<void> {
    const start = this.#oldest === undefined ? segmentIds.length : segmentIds.indexOf(this.#oldest)
    for (let i = segmentIds.length - 1; i >= start && i >= 0; i--) await this.load(segmentIds[i]!)
    let next = (this.#oldest === undefined ? segmentIds.length : segmentIds.indexOf(this.#oldest)) - 1
    while (next >= 0 && this.messageCount() < minMessages) await this.#loadOlderSegment(segmentIds[next--]!)
  }

  /** Pages older segments in until `count` more messages are loaded or none are left. */
  async loadOlder(segmentIds: string[], count: number): Promise<number> {
    const before = this.messageCount()
    let next = (this.#oldest === undefined ? segmentIds.length : segmentIds.indexOf(this.#oldest)) - 1
    while (next >= 0 && this.messageCount() - before < count) await this.#loadOlderSegment(segmentIds[next--]!)
    return this.messageCount() - before
  }

  hasOlder(segmentIds: string[]): boolean {
    return this.#oldest !== undefined && segmentIds.indexOf(this.#oldest) > 0
  }

  async #loadOlderSegment(id: string): Promise<void> {
    await this.load(id)
    this.#oldest = id
  }

  /** Loads one segment (from local storage or the server). Returns undefined if nobody has it. */
  async load(id: string): Promise<DocHandle<SegmentDoc> | undefined> {
    const loaded = this.segments.get(id)
    if (loaded) return loaded
    const handle = await this.#ctx.find<SegmentDoc>(id)
    if (!handle) this.#awaitArrival(id)
    if (!handle || this.segments.has(id)) return this.segments.get(id)
    this.attach(handle)
    return handle
  }

  /** Segment IDs from the oldest loaded one on that are not loaded (yet). */
  missing(segmentIds: string[]): string[] {
    const start = this.#oldest === undefined ? segmentIds.length : Math.max(0, segmentIds.indexOf(this.#oldest))
    return segmentIds.slice(start).filter(id => !this.segments.has(id))
  }

  /**
   * A segment the head lists but neither this device nor the server had when asked: two
   * writers each started one while apart, and the other writer has not uploaded it yet.
   * The repo gets it when it reaches the server; follow it then, or it would never show.
   */
  #awaitArrival(id: string): void {
    const pending = this.#ctx.repo.handles[id as DocumentId] as DocHandle<SegmentDoc> | undefined
    if (!pending || this.#awaited.has(id)) return
    this.#awaited.add(id)
    void pending.whenReady().then(
      async () => {
        this.#awaited.delete(id)
        if (!this.#closed) await this.load(id)
      },
      () => this.#awaited.delete(id), // the repo's wait timed out: the next load or retry asks again
    )
  }

  /** Asks again for listed segments that are not here (the server may have them by now). */
  async retryMissing(segmentIds: string[]): Promise<void> {
    await Promise.all(this.missing(segmentIds).map(id => this.load(id)))
  }

  /** Starts following a segment handle, e.g. one this device just created. */
  attach(handle: DocHandle<SegmentDoc>): void {
    this.segments.set(handle.documentId, handle)
    if (this.#oldest === undefined) this.#oldest = handle.documentId
    handle.on('change', this.#onChange)
    this.#ingest(readSegmentEvents(handle.doc()).events)
  }

  close(): void {
    this.#closed = true
    for (const handle of this.segments.values()) handle.off('change', this.#onChange)
  }

  readonly #onChange = ({ doc, patches }: DocHandleChangePayload<SegmentDoc>): void => {
    const added: ParleyEvent[] = []
    for (const patch of patches) {
      if (patch.path[0] !== 'events') continue
      if (patch.action !== 'insert' || patch.path.length !== 2) {
        // Not a plain append (e.g. the list itself arriving): read the whole segment.
        this.#ingest(readSegmentEvents(doc).events)
        return
      }
      for (const value of patch.values) {
        const json = readString(value)
        if (json === undefined) continue
        try {
          added.push(parseEvent(json, this.#ctx.limits))
        } catch {
          // A malformed entry is skipped, as readSegmentEvents does.
        }
      }
    }
    this.#ingest(added)
  }

  #ingest(events: ParleyEvent[]): void {
    let added = 0
    for (const event of events) {
      if (this.events.has(event.id)) continue
      this.events.set(event.id, event)
      this.#ctx.clock.observe(event.at)
      added++
    }
    if (added > 0) this.#onEvents()
  }
}
