/**
 * The loaded part of a conversation's log: the newest segments, paged back on demand.
 * Opening and appending touch only the newest segment, so their cost does not grow with
 * history. Events arrive through each segment handle's patches, so a sync that adds one
 * event parses one event, not the whole segment, and an event this device appends is
 * not parsed at all; both are handed on to the search index (recent-events.ts). The
 * timeline, the message count, the newest message and each segment's size are updated
 * per event, never recomputed from all of them (issue 15, item 5: per-message client
 * work must not grow with the events loaded).
 */
import type { DocHandle, DocHandleChangePayload, DocumentId } from '@automerge/automerge-repo/slim'
import {
  compareEvents,
  parseEvent,
  readSegmentEvents,
  readString,
  SEGMENT_BYTES,
  segmentBytes,
  segmentLength,
  Timeline,
  utf8Length,
  type MessageEvent,
  type ParleyEvent,
  type SegmentDoc,
} from '@parley/core'
import type { ClientContext } from './context.ts'

export class EventLog {
  readonly events = new Map<string, ParleyEvent>()
  readonly segments = new Map<string, DocHandle<SegmentDoc>>()
  readonly timeline = new Timeline()
  /** The newest message in the total order. */
  latest: MessageEvent | undefined
  #messages = 0
  /** UTF-8 bytes of each loaded segment's event JSON (segmentBytes), kept per insert. */
  readonly #bytes = new Map<string, number>()
  /** The oldest loaded segment; everything after it in the head's list is loaded too. */
  #oldest: string | undefined
  readonly #ctx: ClientContext
  /** Told of the events new here, in the order they were read. */
  readonly #onEvents: (events: ParleyEvent[]) => void
  /** Listed segments nobody had when asked (their writer was offline); followed once they arrive. */
  readonly #awaited = new Set<string>()
  #closed = false

  constructor(ctx: ClientContext, onEvents: (events: ParleyEvent[]) => void) {
    this.#ctx = ctx
    this.#onEvents = onEvents
  }

  messageCount(): number {
    return this.#messages
  }

  /** isSegmentFull for a loaded segment, from the sizes kept per insert instead of reading every event. */
  isFull(id: string, size: number): boolean {
    const handle = this.segments.get(id)
    return !handle || segmentLength(handle.doc()) >= size || (this.#bytes.get(id) ?? 0) >= SEGMENT_BYTES
  }

  /** Appends `event` (stamped here) to a loaded segment, which then needs no parse of its JSON. */
  append(segment: DocHandle<SegmentDoc>, event: ParleyEvent, append: (doc: SegmentDoc) => void): void {
    this.#ctx.recent.remember(JSON.stringify(event), event)
    segment.change(append)
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
    this.#readWhole(handle.documentId, handle.doc())
  }

  close(): void {
    this.#closed = true
    for (const handle of this.segments.values()) handle.off('change', this.#onChange)
  }

  readonly #onChange = ({ handle, doc, patches }: DocHandleChangePayload<SegmentDoc>): void => {
    const id = handle.documentId
    const added: ParleyEvent[] = []
    for (const patch of patches) {
      if (patch.path[0] !== 'events') continue
      if (patch.action === 'put' && patch.path.length === 1 && Array.isArray(patch.value) && patch.value.length === 0) {
        this.#bytes.set(id, 0) // the list arriving empty; its entries follow as inserts
        continue
      }
      if (patch.action !== 'insert' || patch.path.length !== 2) {
        // Not a plain append: read the whole segment.
        this.#readWhole(id, doc)
        return
      }
      for (const value of patch.values) {
        const json = readString(value)
        if (json === undefined) continue
        this.#bytes.set(id, (this.#bytes.get(id) ?? 0) + utf8Length(json))
        const event = this.#ctx.recent.get(json) ?? this.#parse(json)
        if (event) added.push(event)
      }
    }
    this.#ingest(added)
  }

  /** Parses an inserted event, and remembers it for the search index (recent-events.ts). */
  #parse(json: string): ParleyEvent | undefined {
    try {
      const event = parseEvent(json, this.#ctx.limits)
      this.#ctx.recent.remember(json, event)
      return event
    } catch {
      return undefined // a malformed entry is skipped, as readSegmentEvents does
    }
  }

  #readWhole(id: string, doc: SegmentDoc): void {
    this.#bytes.set(id, segmentBytes(doc))
    this.#ingest(readSegmentEvents(doc, 0, this.#ctx.limits).events)
  }

  #ingest(events: ParleyEvent[]): void {
    const added: ParleyEvent[] = []
    for (const event of events) {
      if (this.events.has(event.id)) continue
      this.events.set(event.id, event)
      this.#ctx.clock.observe(event.at)
      if (event.type === 'message') {
        this.#messages++
        if (!this.latest || compareEvents(event, this.latest) > 0) this.latest = event
      }
      this.timeline.add(event)
      added.push(event)
    }
    if (added.length > 0) this.#onEvents(added)
  }
}
