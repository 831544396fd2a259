/**
 * The event index's numbers in LevelDB: the single-node store, in the documents' database
 * under EVENTS_PREFIX (databases.ts; a message's change and its numbering go in one
 * LevelDB batch). One process numbers, so the last number per conversation is cached
 * (while the conversation is loaded: `forget` drops it). Keys, after the prefix:
 *
 *   e:<conversation>:<seq, 12 digits>  → { seq, event }
 *   id:<conversation>:<event id>        → seq   (an event is numbered once)
 *   last:<conversation>                 → the highest seq
 *   u:<conversation>                    → { conversationId, upTo, gaps? }: notified up to this seq
 *
 * Not notified yet (events/notifications.ts): one process numbers, so a mark per
 * conversation says it: every event after `upTo` and up to `last` was numbered and may not
 * be notified. A mark is there only while events may wait: the numbering's batch writes it
 * when the conversation has none (at the number before its first event), the flush raises
 * it once a second for the events whose notifications were done meanwhile, up to the first
 * one still waiting, and deletes it once none waits. So the marks are few (conversations
 * numbered in the last second or so, or whose handlers failed): which events wait is kept
 * in memory for them alone, read back from the marks at the first use after a start (one
 * read per mark, and its `last`), and those are claimable at once, nobody else can be
 * numbering them. A conversation with no events waiting costs no memory and no read.
 *
 * Bounded: at most `maxWaitingInMemory` (default 100,000) waiting events are held in memory
 * (seq → since), over all conversations, so a consumer that keeps failing (the broker or
 * PostgreSQL away for hours) or a start after one does not grow the server with every event
 * numbered meanwhile. Nothing is dropped: the mark on disk still lists every event after
 * `upTo`, so each conversation holds its waiting events up to `heldTo` and the rest (after
 * it, up to `last`, outside gaps) wait on disk only. A conversation with some on disk only
 * holds none of its later ones (in order), and its mark is never raised past the first of
 * them; as memory frees, the look for events left over (`claimUnnotified`) takes them in
 * again, dated the last time the conversation numbered past the bound (0 after a start), so
 * none is handed over before its grace period. An event past `heldTo` whose notification is
 * done in order (the next one waiting) is taken off at no cost; one done out of order is
 * forgotten and handed over again later, which consumers allow (at least once:
 * events/notifications.ts). One record per conversation with events waiting stays in
 * memory (`#marked`): the bound is on events, not on conversations.
 *
 * Event IDs looked up (`seqOf`, once by the relay's event-ID check and again by the
 * numbering of the same event) are remembered, numbered or not, in a bounded map: one
 * process writes the `id:` keys, so what it read stays true until it numbers that ID
 * itself, and the numbering updates the map once its batch is written. A read that a
 * numbering overtook is not remembered.
 *
 * Numbered without `notify` (no webhooks, Web Push, moderation or publishing configured),
 * events are never handed over, as PostgreSQL never lists them. A conversation with no mark
 * needs nothing for that; one whose events still wait (left by an earlier run with them on)
 * gets the new numbers as a gap in its mark (`gaps`: ranges of seqs that do not wait), in
 * the numbering's batch, so a later run with them on hands over what waited, not every
 * event numbered meanwhile.
 */
import { BoundedMap, type ParleyEvent } from '@parley/core'
import type { Cursor, EventStore, SequencedEvent, UnnotifiedEvent } from '../events/event-index.ts'
import type { JsonDatabase } from './json-database.ts'

/** The event index in the documents' database: a sublevel of this name (abstract-level's `sublevel`, for readers outside the server)… */
export const EVENTS_SUBLEVEL = 'events'
/** …whose keys start with this, abstract-level's encoding of its name (no document ID starts with `!`). */
export const EVENTS_PREFIX = `!${EVENTS_SUBLEVEL}!`
const SEQ_DIGITS = 12
const pad = (seq: number): string => String(seq).padStart(SEQ_DIGITS, '0')
const markKey = (conversationId: string): string => `u:${conversationId}`
/** Marks with nothing waiting (written before marks were deleted) deleted per batch when read at start. */
const STALE_MARKS_PER_BATCH = 1000
/** Waiting events held in memory (over all conversations) unless the constructor says otherwise. */
export const MAX_WAITING_IN_MEMORY = 100_000
/** Event IDs remembered by `seqOf` (over all conversations), the oldest dropped first. */
export const MAX_REMEMBERED_IDS = 10_000

const idKey = (conversationId: string, eventId: string): string => `id:${conversationId}:${eventId}`

/** Inclusive ranges of seqs, ascending. */
type Gaps = [from: number, to: number][]

interface NotifiedMark {
  conversationId: string
  upTo: number
  /** Numbered after `upTo` without notify: these do not wait. */
  gaps?: Gaps
}

/** A conversation with a stored mark: the mark as stored, and its events not notified yet (seq → since, ms; 0 for those found at start). */
interface Marked {
  upTo: number
  gaps: Gaps
  /** The waiting events up to `heldTo` (ascending); those after it, up to `last` and outside `gaps`, wait on disk only. */
  waiting: Map<number, number>
  heldTo: number
  /** The conversation's highest number (as `last:` says once its batch is written). */
  last: number
  /** When the conversation last numbered an event past the bound (0: found at start): what those get as `since` when taken in. */
  overflowSince: number
}

export interface LevelEventStoreOptions {
  /** Waiting events held in memory over all conversations; the rest wait on disk only (default MAX_WAITING_IN_MEMORY). */
  readonly maxWaitingInMemory?: number
}

const markEntry = (conversationId: string, upTo: number, gaps: Gaps): { key: string; value: NotifiedMark } => ({
  key: markKey(conversationId),
  value: { conversationId, upTo, ...(gaps.length > 0 && { gaps }) },
})

type Op = { key: string; value: unknown } | { key: string; del: true }

export class LevelEventStore implements EventStore {
  /** seqOf reads LevelDB at once (getSync), and append reads the same IDs: cached by the first read. */
  readonly remoteLookups = false
  readonly #db: JsonDatabase
  readonly #last = new Map<string, number>()
  /** Every conversation with a stored mark (read at the first use after a start). */
  readonly #marked = new Map<string, Marked>()
  #marksRead: Promise<void> | undefined
  /** Marks being deleted: a numbering that writes the conversation's mark again waits for the delete to land first. */
  readonly #deleting = new Map<string, Promise<void>>()
  readonly #maxHeld: number
  /** Entries of every `waiting` map. */
  #held = 0
  /** Conversations with waiting events past `heldTo` (taken in as memory frees). */
  readonly #overflowing = new Set<string>()
  /** `id:` key → its number, or null: not numbered (bounded: MAX_REMEMBERED_IDS). */
  readonly #ids = new BoundedMap<string, number | null>(MAX_REMEMBERED_IDS)
  /** Numberings written so far: a lookup that one overtook is not remembered. */
  #numberings = 0

  constructor(db: JsonDatabase, options: LevelEventStoreOptions = {}) {
    const max = options.maxWaitingInMemory ?? MAX_WAITING_IN_MEMORY
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`maxWaitingInMemory must be a positive integer, got ${String(max)}`)
    this.#db = db
    this.#maxHeld = max
  }

  /** Waiting events held in memory (at most `maxWaitingInMemory`). */
  get waitingInMemory(): number {
    return this.#held
  }

  async append(conversationId: string, events: readonly ParleyEvent[], options: { notify?: boolean } = {}): Promise<{ all: SequencedEvent[]; fresh: SequencedEvent[] }> {
    await this.#readMarks()
    let last = await this.lastSeq(conversationId)
    const all: SequencedEvent[] = []
    const fresh: SequencedEvent[] = []
    const batch: Op[] = []
    const seen = new Map<string, number>()
    for (const event of events) {
      const known = seen.get(event.id) ?? (await this.seqOf(conversationId, event.id))
      if (known !== undefined) {
        all.push({ seq: known, event })
        continue
      }
      const sequenced = { seq: ++last, event }
      seen.set(event.id, last)
      all.push(sequenced)
      fresh.push(sequenced)
      batch.push({ key: `e:${conversationId}:${pad(last)}`, value: sequenced }, { key: idKey(conversationId, event.id), value: last })
    }
    if (fresh.length === 0) return { all, fresh }
    batch.push({ key: `last:${conversationId}`, value: last })
    // From here to the batch nothing is awaited but a delete of this conversation's mark under way.
    while (this.#deleting.has(conversationId)) await this.#deleting.get(conversationId)
    let marked = this.#marked.get(conversationId)
    const had = marked && { ...marked }
    let overflowed = false
    if (options.notify) {
      if (!marked) {
        const upTo = fresh[0]!.seq - 1
        this.#marked.set(conversationId, (marked = { upTo, gaps: [], waiting: new Map(), heldTo: upTo, last: upTo, overflowSince: 0 }))
        batch.push(markEntry(conversationId, marked.upTo, marked.gaps))
      }
      // Waiting before the batch is written: a flush meanwhile keeps the mark below them.
      // Held in order: none once one of the conversation's waits on disk only.
      const now = Date.now()
      overflowed = nextWaiting(marked.gaps, marked.heldTo) <= marked.last
      for (const { seq } of fresh) {
        if (overflowed || this.#held >= this.#maxHeld) {
          overflowed = true
          continue
        }
        marked.waiting.set(seq, now)
        marked.heldTo = seq
        this.#held++
      }
      if (overflowed) marked.overflowSince = now
    } else if (marked) {
      marked.gaps = withGap(marked.gaps, fresh[0]!.seq, last)
      batch.push(markEntry(conversationId, marked.upTo, marked.gaps))
    }
    try {
      await this.#db.batch(batch)
    } catch (error) {
      if (options.notify) for (const { seq } of fresh) if (marked!.waiting.delete(seq)) this.#held--
      // (Not below a mark a flush raised meanwhile.)
      if (had) this.#marked.set(conversationId, Object.assign(marked!, { gaps: had.gaps, heldTo: Math.max(had.heldTo, marked!.upTo), overflowSince: had.overflowSince }))
      else this.#marked.delete(conversationId)
      throw error
    }
    this.#numberings++
    for (const { seq, event } of fresh) this.#ids.set(idKey(conversationId, event.id), seq)
    this.#last.set(conversationId, last)
    if (marked) marked.last = last
    // Only once the numbers are written: a look meanwhile takes in none of them.
    if (overflowed) this.#overflowing.add(conversationId)
    return { all, fresh }
  }

  async claimUnnotified(graceMs: number, limit: number): Promise<UnnotifiedEvent[]> {
    await this.#readMarks()
    this.#takeIn()
    const now = Date.now()
    const due: { conversationId: string; seq: number }[] = []
    for (const [conversationId, { waiting }] of this.#marked) {
      // By key, not by entry: under load every look walks up to 100,000 waiting events, and an
      // [seq, since] pair per event was 7 % of what the server allocated in the 60 s step of
      // `npm run bench:throughput` at 10,000 msg/s.
      for (const seq of waiting.keys()) {
        if (due.length >= limit) break
        if (waiting.get(seq)! > now - graceMs) continue
        // Claimed: not handed over again within graceMs (in memory: after a restart, everything waiting is due).
        waiting.set(seq, now)
        due.push({ conversationId, seq })
      }
    }
    const claimed: UnnotifiedEvent[] = []
    for (const { conversationId, seq } of due) {
      const stored = await this.#db.get<SequencedEvent>(`e:${conversationId}:${pad(seq)}`)
      if (stored) claimed.push({ conversationId, seq, event: stored.event })
    }
    return claimed.sort((a, b) => (a.conversationId < b.conversationId ? -1 : a.conversationId > b.conversationId ? 1 : a.seq - b.seq))
  }

  async notified(events: readonly { conversationId: string; seq: number }[]): Promise<void> {
    if (events.length === 0) return
    await this.#readMarks()
    const touched = new Set<string>()
    // In order, so that events past `heldTo` done in order are taken off.
    for (const { conversationId, seq } of [...events].sort((a, b) => a.seq - b.seq)) {
      const marked = this.#marked.get(conversationId)
      if (!marked) continue
      if (marked.waiting.delete(seq)) this.#held--
      else if (seq > marked.heldTo && seq === nextWaiting(marked.gaps, marked.heldTo)) marked.heldTo = seq
      touched.add(conversationId)
    }
    // Each mark up to the first event still waiting (held or on disk only); deleted when none waits.
    const batch: Op[] = []
    const raised: { marked: Marked; upTo: number; gaps: Gaps }[] = []
    const deleted: [string, Marked][] = []
    for (const conversationId of touched) {
      const marked = this.#marked.get(conversationId)
      if (!marked) continue
      const firstOnDisk = nextWaiting(marked.gaps, marked.heldTo)
      if (marked.waiting.size === 0 && firstOnDisk > marked.last) {
        this.#marked.delete(conversationId)
        this.#overflowing.delete(conversationId)
        deleted.push([conversationId, marked])
        batch.push({ key: markKey(conversationId), del: true })
        continue
      }
      // `waiting` is in ascending order (held in order, taken in after `heldTo`): its first key is the least.
      const firstHeld = marked.waiting.keys().next().value
      const upTo = Math.min(marked.last, firstOnDisk - 1, firstHeld === undefined ? Infinity : firstHeld - 1)
      if (upTo <= marked.upTo) continue
      const gaps = marked.gaps.filter(([, to]) => to > upTo).map(([from, to]): [number, number] => [Math.max(from, upTo + 1), to])
      raised.push({ marked, upTo, gaps })
      batch.push(markEntry(conversationId, upTo, gaps))
    }
    if (batch.length === 0) return
    const written = this.#db.batch(batch).then(
      () => {
        for (const { marked, upTo, gaps } of raised) {
          if (upTo <= marked.upTo) continue
          marked.upTo = upTo
          marked.gaps = gaps
          // Nothing up to the mark waits (the gaps it passed are gone with it).
          marked.heldTo = Math.max(marked.heldTo, upTo)
        }
      },
      error => {
        // Still on disk: kept, so that taking the same events off again (the next flush) deletes it.
        for (const [conversationId, marked] of deleted) if (!this.#marked.has(conversationId)) this.#marked.set(conversationId, marked)
        throw error
      },
    )
    const landed = written.catch(() => undefined)
    for (const [conversationId] of deleted) this.#deleting.set(conversationId, landed)
    try {
      await written
    } finally {
      for (const [conversationId] of deleted) if (this.#deleting.get(conversationId) === landed) this.#deleting.delete(conversationId)
    }
  }

  /**
   * The stored marks, once per start: each conversation's events after its mark wait. A
   * mark with nothing after it (left by a version that kept one per conversation ever
   * notified) is deleted as it is read, so this reads only marks with events waiting later.
   */
  #readMarks(): Promise<void> {
    this.#marksRead ??= (async () => {
      let stale: Op[] = []
      for await (const { conversationId, upTo, gaps = [] } of this.#db.values<NotifiedMark>({ gte: 'u:', lt: 'u;' })) {
        const last = (await this.#db.get<number>(`last:${conversationId}`)) ?? 0
        if (nextWaiting(gaps, upTo) <= last) {
          const marked: Marked = { upTo, gaps, waiting: new Map(), heldTo: upTo, last, overflowSince: 0 }
          this.#marked.set(conversationId, marked)
          this.#overflowing.add(conversationId)
          this.#takeIn(conversationId)
          continue
        }
        stale.push({ key: markKey(conversationId), del: true })
        if (stale.length < STALE_MARKS_PER_BATCH) continue
        await this.#db.batch(stale)
        stale = []
      }
      if (stale.length > 0) await this.#db.batch(stale)
    })()
    // A failed read is tried again by the next caller.
    this.#marksRead.catch(() => {
      this.#marksRead = undefined
      this.#marked.clear()
      this.#overflowing.clear()
      this.#held = 0
    })
    return this.#marksRead
  }

  /** Holds waiting events of conversations with some on disk only (of `only`, or of each in turn), in order, while the bound allows. */
  #takeIn(only?: string): void {
    for (const conversationId of only === undefined ? this.#overflowing : [only]) {
      const marked = this.#marked.get(conversationId)
      if (!marked) {
        this.#overflowing.delete(conversationId)
        continue
      }
      let seq = nextWaiting(marked.gaps, marked.heldTo)
      for (; seq <= marked.last && this.#held < this.#maxHeld; seq = nextWaiting(marked.gaps, seq)) {
        marked.waiting.set(seq, marked.overflowSince)
        marked.heldTo = seq
        this.#held++
      }
      if (seq > marked.last) this.#overflowing.delete(conversationId)
      if (this.#held >= this.#maxHeld) return
    }
  }

  async lastSeq(conversationId: string): Promise<number> {
    let last = this.#last.get(conversationId)
    if (last === undefined) {
      last = (await this.#db.get<number>(`last:${conversationId}`)) ?? 0
      this.#last.set(conversationId, last)
    }
    return last
  }

  async seqOf(conversationId: string, eventId: string): Promise<number | undefined> {
    const key = idKey(conversationId, eventId)
    const known = this.#ids.get(key)
    if (known !== undefined) return known ?? undefined
    const numberings = this.#numberings
    const seq = await this.#db.get<number>(key)
    if (numberings === this.#numberings) this.#ids.set(key, seq ?? null)
    return seq
  }

  async page(conversationId: string, cursor: Cursor, limit: number): Promise<SequencedEvent[]> {
    const prefix = `e:${conversationId}:`
    const range =
      'after' in cursor
        ? { gt: prefix + pad(cursor.after), lt: `${prefix}~`, limit }
        : { gte: prefix, lt: prefix + pad(Math.max(0, cursor.before)), limit, reverse: true }
    const events: SequencedEvent[] = []
    for await (const event of this.#db.values<SequencedEvent>(range)) events.push(event)
    if ('before' in cursor) events.reverse()
    return events
  }

  forget(conversationId: string): void {
    // Its mark, if any, stays: it is in memory only while events wait.
    this.#last.delete(conversationId)
  }
}

/** The first seq after `after` outside `gaps` (ascending, disjoint): the next that waits, if numbered. */
function nextWaiting(gaps: Gaps, after: number): number {
  let seq = after + 1
  for (const [from, to] of gaps) if (seq >= from && seq <= to) seq = to + 1
  return seq
}

/** `gaps` with from…to added (joined to the last range when it follows it). */
function withGap(gaps: Gaps, from: number, to: number): Gaps {
  const lastGap = gaps.at(-1)
  if (lastGap && lastGap[1] === from - 1) return [...gaps.slice(0, -1), [lastGap[0], to]]
  return [...gaps, [from, to]]
}
