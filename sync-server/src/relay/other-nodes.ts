/**
 * What other nodes of a cluster did to the segments this node holds (issue 16; docs/cluster.md,
 * "Segments over the bus"): their changes heard over the bus (bus.ts), and read back from
 * the shared storage when the bus may have missed some: a gap, a new subscription, a log
 * not heard while idle, another user's change a client re-sends. The hub (hub.ts) owns the
 * segments and their peers; this module takes others' changes into them.
 *
 * Another node publishes a change before it stores it (bus-outbox.ts), so two things follow
 * here. A reload that may have come before the write is done once more SETTLE_MS later
 * (late-refills.ts). And a change heard over the bus stays *unconfirmed* until storage shows
 * it: before a new peer hears a segment's heads, this node stores what storage lacks
 * (`confirm`), since the author's device, reconnecting here after its node died, would take
 * those heads for the acknowledgement it never got.
 */
import { next as A } from '@automerge/automerge'
import type { ParleyEvent } from '@parley/core'
import { checkSegmentLogChanges, isViolation } from '../access/segment-log-rules.ts'
import { SETTLE_MS, type RefillReason, type SegmentBus } from './bus.ts'
import type { AppendResult, ChangeLog, LoggedChange } from './change-log.ts'
import type { RelayHubOptions } from './hub-options.ts'
import { LateRefills } from './late-refills.ts'
import { LogStorage } from './log-storage.ts'
import { rememberAuthors } from './segment-ingress.ts'
import { foldLog, serially, type Segment } from './segment.ts'

/** Changes heard over the bus a segment keeps unconfirmed before comparing them with storage. */
const MAX_UNCONFIRMED = 256

/** What this module needs of the hub. */
export interface HeldSegments {
  /** The segment loaded here under this ID, if any. */
  loaded(segmentId: string): Promise<Segment> | undefined
  /** A segment unloaded while peers still sync it (parked), loaded again; undefined when not parked. */
  wake(segmentId: string): Promise<Segment> | undefined
  /** Every segment loaded here. */
  all(): Iterable<Promise<Segment>>
  /** Sends changes new to the log to the segment's peers here (`before`: the log's heads before them). */
  forward(segment: Segment, changes: readonly LoggedChange[], before: readonly string[]): void
  /** Changes of this node's own client, freed by others' changes they waited for: stored, numbered and published as any accepted here. */
  acceptOwn(segment: Segment, changes: readonly LoggedChange[]): void
  /** Stores changes as they are (settles once written). */
  store(segment: Segment, changes: readonly LoggedChange[]): Promise<void>
  /** Joins or leaves the segment's conversation on the bus as its peers here say. */
  interest(segment: Segment): void
}

export class OtherNodes {
  readonly #options: RelayHubOptions & { readonly bus: SegmentBus }
  readonly #segments: HeldSegments
  /** Reads segments back from the shared storage (its own file bookkeeping, apart from the hub's). */
  readonly #reader: LogStorage
  readonly #late: LateRefills

  constructor(options: RelayHubOptions & { readonly bus: SegmentBus }, segments: HeldSegments) {
    this.#options = options
    this.#segments = segments
    this.#reader = new LogStorage(options.storage)
    this.#late = new LateRefills(options.settleMs ?? SETTLE_MS)
    options.bus.attach({
      changes: (conversation, segmentId, changes) => this.#heard(conversation, segmentId, changes),
      listening: conversation => this.#listening(conversation),
    })
  }

  /** Reloads a segment from the shared storage and takes in what this log lacks. Run it in the segment's turn (segment.ts `serially`). */
  async refill(segment: Segment, reason: RefillReason): Promise<void> {
    const stored = await this.#readStored(segment)
    this.#options.bus.refilled?.(reason)
    if (stored) this.#takeIn(segment, stored.changes().map(change => change.bytes), 'storage')
  }

  /** A segment just loaded from storage: loaded within SETTLE_MS of a frame heard for it, it is reloaded SETTLE_MS later. */
  loaded(segment: Segment): void {
    if (this.#late.loadMayMiss(segment.id)) this.#refillLater(segment, 'listening')
  }

  close(): void {
    this.#late.close()
  }

  /** Changes another node published: taken in if the segment is loaded here; a gap (missing deps) reloads it. */
  #heard(conversation: string, segmentId: string, changes: readonly Uint8Array[]): void {
    // A segment this node does not hold: whoever loads it later reads it from storage (once
    // more SETTLE_MS later, if that load may come before the write). A parked one is loaded
    // again now, for its peers, and takes this change in.
    const loading = this.#segments.loaded(segmentId) ?? this.#segments.wake(segmentId)
    if (!loading) return this.#late.heardUnloaded(segmentId)
    void loading
      .then(segment =>
        serially(segment, async () => {
          if (segment.conversation !== undefined && segment.conversation !== conversation) return
          const appended = this.#takeIn(segment, changes, 'bus')
          if (appended.pending.length === 0) return
          await this.refill(segment, 'gap')
          if (segment.log.pendingCount > 0) this.#refillLater(segment, 'gap')
        }),
      )
      .catch(error => this.#options.log.warn({ err: error, documentId: segmentId }, 'could not take in changes from the bus'))
  }

  /** The bus hears the conversation from now on: its loaded segments catch up from storage, now and SETTLE_MS later. */
  #listening(conversation: string): void {
    for (const loading of this.#segments.all()) {
      void loading
        .then(segment => {
          if (segment.conversation !== conversation) return
          this.#refillLater(segment, 'listening')
          return serially(segment, () => this.refill(segment, 'listening'))
        })
        .catch(error => this.#options.log.warn({ err: error, conversation }, 'could not reload a segment from storage'))
    }
  }

  /** The segment reloaded SETTLE_MS from now, if it is still loaded: what was published before now is stored by then, or heard (bus-outbox.ts). */
  #refillLater(segment: Segment, reason: RefillReason): void {
    this.#late.later(() => {
      void this.#segments
        .loaded(segment.id)
        ?.then(current => (current === segment ? serially(segment, () => this.refill(segment, reason)) : undefined))
        .catch(error => this.#options.log.warn({ err: error, documentId: segment.id }, 'could not reload a segment from storage'))
    })
  }

  /** The segment as the shared storage holds it now; what it shows stored is no longer unconfirmed. */
  async #readStored(segment: Segment): Promise<ChangeLog | null> {
    const stored = await this.#reader.load(segment.id)
    this.#reader.forget(segment.id)
    for (const hash of segment.unconfirmed) if (stored?.hasHash(hash)) segment.unconfirmed.delete(hash)
    return stored
  }

  /**
   * Changes heard over the bus that storage still lacks are stored, and their events
   * numbered, by this node. Called (in the segment's turn) before a new peer hears the
   * heads while some are unconfirmed, and when too many wait (a failed read waits for the
   * next time).
   */
  async confirm(segment: Segment): Promise<void> {
    try {
      await this.#readStored(segment)
    } catch (error) {
      this.#options.log.warn({ err: error, documentId: segment.id }, 'could not compare a segment with storage')
      return
    }
    const missing = segment.log.changes().filter(change => segment.unconfirmed.has(change.hash))
    segment.unconfirmed.clear()
    if (missing.length === 0) return
    void this.#segments.store(segment, missing)
    const events = segment.state ? foldLog(segment.log, this.#options.limits)?.events : undefined
    if (events && segment.state) this.#options.hooks.reloaded?.(segment.state.conversation, segment.id, events)
  }

  /**
   * Changes another node accepted (and checked: docs/cluster.md, "Trust"), or read back
   * from storage: appended (idempotent by hash), sent to this node's peers, the segment's
   * state and recent authors updated; the events of changes read back from storage go to
   * the `reloaded` hook. Not stored again nor published: the accepting node did both. A
   * change of this node's own client that waited for these deps is freed here and goes
   * the way of any accepted one.
   */
  #takeIn(segment: Segment, changes: readonly Uint8Array[], from: 'bus' | 'storage'): AppendResult {
    const before = segment.log.heads()
    const appended = segment.log.append(changes)
    for (const hash of appended.dropped) segment.waiting.delete(hash)
    if (appended.accepted.length === 0) return appended
    if (from === 'bus') this.#unconfirmed(segment, appended.accepted)
    this.#segments.forward(segment, appended.accepted, before)
    const own = appended.accepted.filter(change => segment.waiting.has(change.hash))
    const heard = own.length === 0 ? appended.accepted : appended.accepted.filter(change => !segment.waiting.has(change.hash))
    let events: ParleyEvent[] = []
    const checked = segment.state && checkSegmentLogChanges(segment.state, [], heard.map(change => A.decodeChange(change.bytes)), '', undefined, this.#options.limits)
    if (checked && !isViolation(checked)) {
      segment.state = checked.state
      events = heard.flatMap(change => checked.events.get(change.hash) ?? [])
    } else {
      // No state yet (the segment's first change came from the bus), or past the size limit: from the whole log.
      const folded = foldLog(segment.log, this.#options.limits)
      // Every event of the segment then: the index keeps the numbers it has (idempotent by ID).
      segment.state = folded?.state ?? segment.state
      events = folded?.events ?? []
    }
    segment.conversation ??= segment.state?.conversation
    rememberAuthors(segment.recent, events)
    if (from === 'storage' && events.length > 0 && segment.state) this.#options.hooks.reloaded?.(segment.state.conversation, segment.id, events)
    if (own.length > 0) this.#segments.acceptOwn(segment, own)
    this.#segments.interest(segment)
    return appended
  }

  /**
   * Changes heard over the bus, to be seen in storage; when they pass MAX_UNCONFIRMED, compared
   * with it now. (If that read fails, they wait for the next new peer: never more of them
   * than the log holds.)
   */
  #unconfirmed(segment: Segment, changes: readonly LoggedChange[]): void {
    const before = segment.unconfirmed.size
    // Not the client's own changes that waited for these deps: those are stored here.
    for (const change of changes) if (!segment.waiting.has(change.hash)) segment.unconfirmed.add(change.hash)
    if (before <= MAX_UNCONFIRMED && segment.unconfirmed.size > MAX_UNCONFIRMED) void serially(segment, () => this.confirm(segment))
  }
}
