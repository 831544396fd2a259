/**
 * The server sequence: every event of a conversation numbered 1, 2, 3 … in the order
 * the server first stored it, whether it came over sync or HTTP. Kept in its own LevelDB
 * (`<data>/events`, opened by storage/databases.ts) so paging by number never loads a
 * document:
 *
 *   e:<conversation>:<seq, 12 digits>  → { seq, event }
 *   id:<conversation>:<event id>        → seq   (an event is numbered once)
 *   last:<conversation>                 → the highest seq
 *
 * Waiting for new events (long polls, SSE) is a listener on this emitter: no loop runs
 * while nothing happens.
 */
import type { ParleyEvent } from '@parley/core'
import { EventEmitter } from 'node:events'
import type { JsonDatabase } from '../storage/json-database.ts'

export interface SequencedEvent {
  seq: number
  event: ParleyEvent
}

export interface Page {
  events: SequencedEvent[]
  /** Pass as `after` for the next page forward (or as `before` going back). */
  next: number
}

const SEQ_DIGITS = 12
const pad = (seq: number): string => String(seq).padStart(SEQ_DIGITS, '0')

export class EventIndex extends EventEmitter<{ stored: [conversationId: string, events: SequencedEvent[]] }> {
  readonly #db: JsonDatabase
  /** Writes per conversation run one after another, so numbers never repeat or go back. */
  readonly #writes = new Map<string, Promise<unknown>>()
  readonly #last = new Map<string, number>()

  constructor(db: JsonDatabase) {
    super()
    this.setMaxListeners(0)
    this.#db = db
  }

  /** Numbers the events not numbered yet, in the order given; resolves with all of them. */
  record(conversationId: string, events: ParleyEvent[]): Promise<SequencedEvent[]> {
    const previous = this.#writes.get(conversationId) ?? Promise.resolve()
    const write = previous.then(() => this.#record(conversationId, events))
    const settled = write.catch(() => undefined)
    this.#writes.set(conversationId, settled)
    void settled.then(() => this.#writes.get(conversationId) === settled && this.#writes.delete(conversationId))
    return write
  }

  /** Drops a conversation's cached last number (its head was unloaded), unless a write is under way. */
  forget(conversationId: string): void {
    if (!this.#writes.has(conversationId)) this.#last.delete(conversationId)
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
    return this.#db.get<number>(`id:${conversationId}:${eventId}`)
  }

  /** Events after `after` (oldest first), or before `before` (still oldest first). */
  async page(conversationId: string, cursor: { after: number } | { before: number }, limit: number): Promise<Page> {
    const prefix = `e:${conversationId}:`
    const range =
      'after' in cursor
        ? { gt: prefix + pad(cursor.after), lt: `${prefix}~`, limit }
        : { gte: prefix, lt: prefix + pad(Math.max(0, cursor.before)), limit, reverse: true }
    const events: SequencedEvent[] = []
    for await (const event of this.#db.values<SequencedEvent>(range)) events.push(event)
    if ('before' in cursor) events.reverse()
    const next = 'after' in cursor ? (events.at(-1)?.seq ?? cursor.after) : (events[0]?.seq ?? cursor.before)
    return { events, next }
  }

  /**
   * Resolves once an event after `after` exists, or with false at the deadline or when
   * `signal` aborts. Costs a listener while waiting, nothing else.
   */
  async waitFor(conversationId: string, after: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if ((await this.lastSeq(conversationId)) > after) return true
    return new Promise(resolve => {
      const done = (arrived: boolean): void => {
        clearTimeout(timer)
        this.off('stored', onStored)
        signal?.removeEventListener('abort', onAbort)
        resolve(arrived)
      }
      const onStored = (id: string, events: SequencedEvent[]): void => {
        if (id === conversationId && events.some(({ seq }) => seq > after)) done(true)
      }
      const onAbort = (): void => done(false)
      const timer = setTimeout(() => done(false), timeoutMs)
      this.on('stored', onStored)
      signal?.addEventListener('abort', onAbort)
      // Aborted while lastSeq was read: 'abort' will not fire again.
      if (signal?.aborted) done(false)
    })
  }

  async #record(conversationId: string, events: ParleyEvent[]): Promise<SequencedEvent[]> {
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
    if (fresh.length === 0) return all
    batch.push({ key: `last:${conversationId}`, value: last })
    await this.#db.batch(batch)
    this.#last.set(conversationId, last)
    this.emit('stored', conversationId, fresh)
    return all
  }
}
