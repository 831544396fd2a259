/**
 * The event index's numbers in LevelDB (`<data>/events`, opened by databases.ts): the
 * single-node store. One process numbers, so the last number per conversation is cached.
 *
 *   e:<conversation>:<seq, 12 digits>  → { seq, event }
 *   id:<conversation>:<event id>        → seq   (an event is numbered once)
 *   last:<conversation>                 → the highest seq
 */
import type { ParleyEvent } from '@parley/core'
import type { Cursor, EventStore, SequencedEvent } from '../events/event-index.ts'
import type { JsonDatabase } from './json-database.ts'

const SEQ_DIGITS = 12
const pad = (seq: number): string => String(seq).padStart(SEQ_DIGITS, '0')

export class LevelEventStore implements EventStore {
  readonly #db: JsonDatabase
  readonly #last = new Map<string, number>()

  constructor(db: JsonDatabase) {
    this.#db = db
  }

  async append(conversationId: string, events: readonly ParleyEvent[]): Promise<{ all: SequencedEvent[]; fresh: SequencedEvent[] }> {
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
    await this.#db.batch(batch)
    this.#last.set(conversationId, last)
    return { all, fresh }
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
