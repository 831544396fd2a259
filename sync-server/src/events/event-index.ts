/**
 * The server sequence: every event of a conversation numbered 1, 2, 3 … in the order
 * the server first stored it, whether it came over sync or HTTP. The numbers live in an
 * `EventStore` apart from the documents, so paging by number never loads a document:
 * LevelDB on one node (storage/level-event-store.ts), or PostgreSQL, where every node of
 * a cluster numbers into one sequence per conversation (storage/postgres/event-store.ts).
 *
 * Waiting for new events (long polls, SSE) is a listener on this emitter: no loop runs
 * while nothing happens.
 */
import type { ParleyEvent } from '@parley/core'
import { EventEmitter } from 'node:events'

export interface SequencedEvent {
  seq: number
  event: ParleyEvent
}

export interface Page {
  events: SequencedEvent[]
  /** Pass as `after` for the next page forward (or as `before` going back). */
  next: number
}

export type Cursor = { after: number } | { before: number }

/** Where the numbers are kept. One `append` per conversation at a time in a process (EventIndex sees to it). */
export interface EventStore {
  /**
   * Numbers the events not numbered yet, in the order given, after the conversation's
   * highest number, and stores them; an event already numbered (by ID) keeps its number.
   * `all`: every event given with its number; `fresh`: those this call numbered.
   */
  append(conversationId: string, events: readonly ParleyEvent[]): Promise<{ all: SequencedEvent[]; fresh: SequencedEvent[] }>
  lastSeq(conversationId: string): Promise<number>
  seqOf(conversationId: string, eventId: string): Promise<number | undefined>
  /** At most `limit` events after `after`, or the last `limit` before `before`; oldest first. */
  page(conversationId: string, cursor: Cursor, limit: number): Promise<SequencedEvent[]>
  /** Drops what the store caches about a conversation. */
  forget(conversationId: string): void
}

type IndexEvents = {
  /** Events this node had not seen before, numbered here or (sharing a database) by another node. */
  stored: [conversationId: string, events: SequencedEvent[]]
  /** Events this node numbered: each is numbered by exactly one node (webhooks hang off this). */
  numbered: [conversationId: string, events: SequencedEvent[]]
}

export class EventIndex extends EventEmitter<IndexEvents> {
  readonly #store: EventStore
  /** Writes per conversation run one after another, so numbers never repeat or go back. */
  readonly #writes = new Map<string, Promise<unknown>>()
  /** The highest number this node has announced per conversation. */
  readonly #seen = new Map<string, number>()

  constructor(store: EventStore) {
    super()
    this.setMaxListeners(0)
    this.#store = store
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

  /** Drops a conversation's cached numbers (its head was unloaded), unless a write is under way. */
  forget(conversationId: string): void {
    if (this.#writes.has(conversationId)) return
    this.#seen.delete(conversationId)
    this.#store.forget(conversationId)
  }

  lastSeq(conversationId: string): Promise<number> {
    return this.#store.lastSeq(conversationId)
  }

  seqOf(conversationId: string, eventId: string): Promise<number | undefined> {
    return this.#store.seqOf(conversationId, eventId)
  }

  /** Events after `after` (oldest first), or before `before` (still oldest first). */
  async page(conversationId: string, cursor: Cursor, limit: number): Promise<Page> {
    const events = await this.#store.page(conversationId, cursor, limit)
    // A page that reached the end says where announcements start, if nothing did yet: a
    // stream that read its backlog then hears of every later number (see #news).
    const last = events.at(-1)
    if ('after' in cursor && last !== undefined && events.length < limit && !this.#seen.has(conversationId)) this.#seen.set(conversationId, last.seq)
    const next = 'after' in cursor ? (events.at(-1)?.seq ?? cursor.after) : (events[0]?.seq ?? cursor.before)
    return { events, next }
  }

  /**
   * Resolves once an event after `after` exists, or with false at the deadline or when
   * `signal` aborts. Costs a listener while waiting, nothing else.
   */
  async waitFor(conversationId: string, after: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    const last = await this.lastSeq(conversationId)
    if (last > after) return true
    if (!this.#seen.has(conversationId)) this.#seen.set(conversationId, last)
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
    // Where this node's announcements start (a cached read with LevelDB).
    if (!this.#seen.has(conversationId)) this.#seen.set(conversationId, await this.#store.lastSeq(conversationId))
    const { all, fresh } = await this.#store.append(conversationId, events)
    const news = await this.#news(conversationId, all, fresh)
    if (news.length > 0) this.emit('stored', conversationId, news)
    if (fresh.length > 0) this.emit('numbered', conversationId, fresh)
    return all
  }

  /**
   * What to announce: every number after the highest announced so far, without a gap.
   * With one node (LevelDB), these are the events just numbered. Sharing a database,
   * another node may have numbered some of the events given, or events this node has not
   * received yet: those are read back from the store, so a stream that follows 'stored'
   * never skips a number.
   */
  async #news(conversationId: string, all: SequencedEvent[], fresh: SequencedEvent[]): Promise<SequencedEvent[]> {
    const seen = this.#seen.get(conversationId) ?? 0
    let highest = seen
    for (const { seq } of all) if (seq > highest) highest = seq
    if (highest === seen) return []
    this.#seen.set(conversationId, highest)
    // The usual case, and always with one node: this call numbered exactly what follows.
    if (fresh.length === highest - seen && fresh[0]?.seq === seen + 1) return fresh
    const bySeq = new Map<number, SequencedEvent>()
    for (const event of all) if (event.seq > seen) bySeq.set(event.seq, event)
    if (bySeq.size < highest - seen) {
      for (const event of await this.#store.page(conversationId, { after: seen }, highest - seen)) bySeq.set(event.seq, event)
    }
    return [...bySeq.values()].filter(({ seq }) => seq <= highest).sort((a, b) => a.seq - b.seq)
  }
}
