/**
 * The event index's numbers in PostgreSQL (migration 3): every node of a cluster numbers
 * into one sequence per conversation. An append is one round trip, one call of
 * parley_append_events, which numbers the events not numbered yet under the
 * conversation's counter row lock: two nodes appending at once get 1, 2, 3 … with no gap
 * and no number twice, and an event appended twice (by two nodes, or again after a
 * restart) keeps its first number.
 */
import type { ParleyEvent } from '@parley/core'
import type { Cursor, EventStore, SequencedEvent } from '../../events/event-index.ts'
import type { PostgresPool } from './pool.ts'

interface AppendRow extends Record<string, unknown> { event_id: string; seq: string; fresh: boolean }
interface EventRow extends Record<string, unknown> { seq: string; event: ParleyEvent }

export class PostgresEventStore implements EventStore {
  readonly #pool: PostgresPool

  constructor(pool: PostgresPool) {
    this.#pool = pool
  }

  async append(conversationId: string, events: readonly ParleyEvent[]): Promise<{ all: SequencedEvent[]; fresh: SequencedEvent[] }> {
    if (events.length === 0) return { all: [], fresh: [] }
    const rows = await this.#pool.query<AppendRow>('SELECT event_id, seq, fresh FROM parley_append_events($1, $2::text[], $3::json[])', [
      conversationId,
      events.map(event => event.id),
      events.map(event => JSON.stringify(event)),
    ])
    const numbers = new Map(rows.map(row => [row.event_id, { seq: Number(row.seq), fresh: row.fresh }]))
    const all: SequencedEvent[] = []
    const fresh: SequencedEvent[] = []
    const listed = new Set<string>()
    for (const event of events) {
      const number = numbers.get(event.id)
      if (number === undefined) throw new Error(`event ${event.id} of ${conversationId} was neither numbered nor found`)
      const sequenced = { seq: number.seq, event }
      all.push(sequenced)
      if (number.fresh && !listed.has(event.id)) fresh.push(sequenced)
      listed.add(event.id)
    }
    return { all, fresh }
  }

  async lastSeq(conversationId: string): Promise<number> {
    const rows = await this.#pool.query<{ last_seq: string }>('SELECT last_seq FROM parley_event_counters WHERE conversation_id = $1', [conversationId])
    return rows[0] === undefined ? 0 : Number(rows[0].last_seq)
  }

  async seqOf(conversationId: string, eventId: string): Promise<number | undefined> {
    const rows = await this.#pool.query<{ seq: string }>('SELECT seq FROM parley_events WHERE conversation_id = $1 AND event_id = $2', [conversationId, eventId])
    return rows[0] === undefined ? undefined : Number(rows[0].seq)
  }

  async page(conversationId: string, cursor: Cursor, limit: number): Promise<SequencedEvent[]> {
    const rows =
      'after' in cursor
        ? await this.#pool.query<EventRow>('SELECT seq, event FROM parley_events WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3', [conversationId, cursor.after, limit])
        : await this.#pool.query<EventRow>('SELECT seq, event FROM parley_events WHERE conversation_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3', [conversationId, cursor.before, limit])
    const events = rows.map(row => ({ seq: Number(row.seq), event: row.event }))
    return 'after' in cursor ? events : events.reverse()
  }

  /** Nothing cached: every node reads the shared numbers. */
  forget(): void {}
}
