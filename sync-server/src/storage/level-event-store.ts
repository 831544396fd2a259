/**
 * The event index's numbers in LevelDB (`<data>/events`, opened by databases.ts): the
 * single-node store. One process numbers, so the last number per conversation is cached.
 *
 *   e:<conversation>:<seq, 12 digits>  → { seq, event }
 *   id:<conversation>:<event id>        → seq   (an event is numbered once)
 *   last:<conversation>                 → the highest seq
 *   u:<conversation>                    → { conversationId, upTo }: notified up to this seq
 *
 * Not notified yet (events/notifications.ts): one process numbers, so a mark per
 * conversation says it: every event after `upTo` and up to `last` was numbered and may not
 * be notified. The numbering's batch writes the mark only the first time a conversation
 * is numbered with notify (at the number before its first event); it is raised once a
 * second for the events whose notifications were queued meanwhile, up to the first one
 * still waiting. Which events wait is kept in memory, read back from the marks at the
 * first use after a start (one read per conversation ever notified, and its `last`): those
 * are claimable at once, nobody else can be numbering them.
 */
import type { ParleyEvent } from '@parley/core'
import type { Cursor, EventStore, SequencedEvent, UnnotifiedEvent } from '../events/event-index.ts'
import type { JsonDatabase } from './json-database.ts'

const SEQ_DIGITS = 12
const pad = (seq: number): string => String(seq).padStart(SEQ_DIGITS, '0')

interface NotifiedMark {
  conversationId: string
  upTo: number
}

interface Unnotified {
  /** Per conversation, its events not notified yet: seq → since (ms; 0 for those found at start). */
  waiting: Map<string, Map<number, number>>
  /** Per conversation with a stored mark, the mark. */
  marks: Map<string, number>
}

export class LevelEventStore implements EventStore {
  readonly #db: JsonDatabase
  readonly #last = new Map<string, number>()
  #unnotified: Promise<Unnotified> | undefined

  constructor(db: JsonDatabase) {
    this.#db = db
  }

  async append(conversationId: string, events: readonly ParleyEvent[], options: { notify?: boolean } = {}): Promise<{ all: SequencedEvent[]; fresh: SequencedEvent[] }> {
    const unnotified = options.notify ? await this.#loadUnnotified() : undefined
    let last = await this.lastSeq(conversationId)
    const all: SequencedEvent[] = []
    const fresh: SequencedEvent[] = []
    const batch: { key: string; value: unknown }[] = []
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
      batch.push({ key: `e:${conversationId}:${pad(last)}`, value: sequenced }, { key: `id:${conversationId}:${event.id}`, value: last })
    }
    if (fresh.length === 0) return { all, fresh }
    batch.push({ key: `last:${conversationId}`, value: last })
    const marking = unnotified !== undefined && !unnotified.marks.has(conversationId)
    if (marking) batch.push(this.#markEntry(unnotified, conversationId, fresh[0]!.seq - 1))
    try {
      await this.#db.batch(batch)
    } catch (error) {
      // Not written: the next numbering writes the first mark instead.
      if (marking) unnotified.marks.delete(conversationId)
      throw error
    }
    this.#last.set(conversationId, last)
    if (unnotified) {
      const now = Date.now()
      let waiting = unnotified.waiting.get(conversationId)
      if (!waiting) unnotified.waiting.set(conversationId, (waiting = new Map()))
      for (const { seq } of fresh) waiting.set(seq, now)
    }
    return { all, fresh }
  }

  async claimUnnotified(graceMs: number, limit: number): Promise<UnnotifiedEvent[]> {
    const { waiting } = await this.#loadUnnotified()
    const now = Date.now()
    const due: { conversationId: string; seq: number }[] = []
    for (const [conversationId, events] of waiting) {
      for (const [seq, since] of events) {
        if (due.length >= limit) break
        if (since > now - graceMs) continue
        // Claimed: not handed over again within graceMs (in memory: after a restart, everything waiting is due).
        events.set(seq, now)
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
    const unnotified = await this.#loadUnnotified()
    const touched = new Set<string>()
    for (const { conversationId, seq } of events) if (unnotified.waiting.get(conversationId)?.delete(seq)) touched.add(conversationId)
    for (const conversationId of touched) await this.lastSeq(conversationId)
    // Each mark up to the first event still waiting, or to the last number when none waits.
    const batch: { key: string; value: unknown }[] = []
    for (const conversationId of touched) {
      const waiting = unnotified.waiting.get(conversationId)
      let upTo = this.#last.get(conversationId) ?? 0
      for (const seq of waiting?.keys() ?? []) upTo = Math.min(upTo, seq - 1)
      if (waiting?.size === 0) unnotified.waiting.delete(conversationId)
      if (upTo > (unnotified.marks.get(conversationId) ?? -1)) batch.push(this.#markEntry(unnotified, conversationId, upTo))
    }
    if (batch.length > 0) await this.#db.batch(batch)
  }

  #markEntry(unnotified: Unnotified, conversationId: string, upTo: number): { key: string; value: NotifiedMark } {
    unnotified.marks.set(conversationId, upTo)
    return { key: `u:${conversationId}`, value: { conversationId, upTo } }
  }

  #loadUnnotified(): Promise<Unnotified> {
    this.#unnotified ??= (async () => {
      const loaded: Unnotified = { waiting: new Map(), marks: new Map() }
      for await (const { conversationId, upTo } of this.#db.values<NotifiedMark>({ gte: 'u:', lt: 'u;' })) {
        loaded.marks.set(conversationId, upTo)
        const last = (await this.#db.get<number>(`last:${conversationId}`)) ?? 0
        if (last > upTo) loaded.waiting.set(conversationId, new Map(Array.from({ length: last - upTo }, (_, i) => [upTo + 1 + i, 0])))
      }
      return loaded
    })()
    // A failed read is tried again by the next caller.
    this.#unnotified.catch(() => (this.#unnotified = undefined))
    return this.#unnotified
  }

  async lastSeq(conversationId: string): Promise<number> {
    let last = this.#last.get(conversationId)
    if (last === undefined) {
      last = (await this.#db.get<number>(`last:${conversationId}`)) ?? 0
      this.#last.set(conversationId, last)
    }
    return last
  }

  seqOf(conversationId: string, eventId: string): Promise<number | undefined> {
    return this.#db.get<number>(`id:${conversationId}:${eventId}`)
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
    this.#last.delete(conversationId)
    // Its notified mark too, unless events wait: the next numbering writes it again (as the
    // same number), so memory does not grow with every conversation ever numbered.
    void this.#unnotified?.then(unnotified => {
      if (!unnotified.waiting.has(conversationId)) unnotified.marks.delete(conversationId)
    }, () => undefined)
  }
}
