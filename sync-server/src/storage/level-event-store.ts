/**
 * The event index's numbers in LevelDB (`<data>/events`, opened by databases.ts): the
 * single-node store. One process numbers, so the last number per conversation is cached.
 *
 *   e:<conversation>:<seq, 12 digits>  → { seq, event }
 *   id:<conversation>:<event id>        → seq   (an event is numbered once)
 *   last:<conversation>                 → the highest seq
 *   u:<conversation>                    → { conversationId, events: [seq, since][] }: numbered, not notified
 *
 * The not-notified list (events/notifications.ts) is one key per conversation, written in
 * the numbering's batch and rewritten when notifications are queued: the JSON database
 * takes puts only, so an emptied list stays as `[]`. The whole list is read into memory
 * once, before the first write that touches it (one read per conversation that ever had
 * a notification, at the first numbering after a start).
 */
import type { ParleyEvent } from '@parley/core'
import type { Cursor, EventStore, SequencedEvent, UnnotifiedEvent } from '../events/event-index.ts'
import type { JsonDatabase } from './json-database.ts'

const SEQ_DIGITS = 12
const pad = (seq: number): string => String(seq).padStart(SEQ_DIGITS, '0')

interface UnnotifiedList {
  conversationId: string
  /** [seq, since (ms)] */
  events: [number, number][]
}

export class LevelEventStore implements EventStore {
  readonly #db: JsonDatabase
  readonly #last = new Map<string, number>()
  /** Per conversation, its events not notified yet: seq → since. Conversations with none are left out. */
  #unnotified: Promise<Map<string, Map<number, number>>> | undefined

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
    if (unnotified) {
      const now = Date.now()
      let list = unnotified.get(conversationId)
      if (!list) unnotified.set(conversationId, (list = new Map()))
      for (const { seq } of fresh) list.set(seq, now)
      batch.push(this.#listEntry(conversationId, list))
    }
    await this.#db.batch(batch)
    this.#last.set(conversationId, last)
    return { all, fresh }
  }

  async claimUnnotified(graceMs: number, limit: number): Promise<UnnotifiedEvent[]> {
    const unnotified = await this.#loadUnnotified()
    const now = Date.now()
    const claimed: UnnotifiedEvent[] = []
    const touched = new Map<string, Map<number, number>>()
    for (const [conversationId, list] of unnotified) {
      for (const [seq, since] of list) {
        if (claimed.length >= limit) break
        if (since > now - graceMs) continue
        const stored = await this.#db.get<SequencedEvent>(`e:${conversationId}:${pad(seq)}`)
        if (stored) claimed.push({ conversationId, seq, event: stored.event })
        // Claimed (or numbered under another key and gone): dated now, or dropped.
        if (stored) list.set(seq, now)
        else list.delete(seq)
        touched.set(conversationId, list)
      }
    }
    if (touched.size > 0) await this.#writeLists(unnotified, touched)
    return claimed.sort((a, b) => (a.conversationId < b.conversationId ? -1 : a.conversationId > b.conversationId ? 1 : a.seq - b.seq))
  }

  async notified(events: readonly { conversationId: string; seq: number }[]): Promise<void> {
    if (events.length === 0) return
    const unnotified = await this.#loadUnnotified()
    const touched = new Map<string, Map<number, number>>()
    for (const { conversationId, seq } of events) {
      const list = unnotified.get(conversationId)
      if (!list?.delete(seq)) continue
      touched.set(conversationId, list)
    }
    if (touched.size > 0) await this.#writeLists(unnotified, touched)
  }

  /** Writes the lists of the conversations touched, after the memory changed (so a later write never carries an older list). */
  async #writeLists(unnotified: Map<string, Map<number, number>>, touched: Map<string, Map<number, number>>): Promise<void> {
    for (const [conversationId, list] of touched) if (list.size === 0 && unnotified.get(conversationId) === list) unnotified.delete(conversationId)
    await this.#db.batch([...touched].map(([conversationId, list]) => this.#listEntry(conversationId, list)))
  }

  #listEntry(conversationId: string, list: Map<number, number>): { key: string; value: UnnotifiedList } {
    return { key: `u:${conversationId}`, value: { conversationId, events: [...list] } }
  }

  #loadUnnotified(): Promise<Map<string, Map<number, number>>> {
    this.#unnotified ??= (async () => {
      const lists = new Map<string, Map<number, number>>()
      for await (const { conversationId, events } of this.#db.values<UnnotifiedList>({ gte: 'u:', lt: 'u;' })) {
        if (events.length > 0) lists.set(conversationId, new Map(events))
      }
      return lists
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
  }
}
