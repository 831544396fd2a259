/**
 * The server sequence: every event of a conversation numbered 1, 2, 3 … in the order
 * the server first stored it, whether it came over sync or HTTP. The numbers live in an
 * `EventStore` apart from the documents, so paging by number never loads a document:
 * LevelDB on one node (storage/level-event-store.ts), or PostgreSQL, where every node of
 * a cluster numbers into one sequence per conversation (storage/postgres/event-store.ts).
 *
 * Waiting for new events (long polls, SSE) is a listener on this emitter: no loop runs
 * while nothing happens. In a cluster whose nodes share the store, events another node
 * numbered reach this node's waiters through a feed (the segment bus): a waiter `follow`s
 * the conversation, which makes the node listen on it, and the feed's news of it makes
 * the index read the new numbers back from the store (docs/cluster.md, "HTTP streams").
 *
 * A numbering that fails (PostgreSQL unreachable) is tried again by itself, after 1 s
 * doubling to 30 s as the relay core's log writes are (relay/log-storage.ts), and sooner
 * with the conversation's next events: events accepted during an outage are numbered once
 * the store answers, without waiting for their segment to be loaded again.
 */
import type { ParleyEvent } from '@parley/core'
import { EventEmitter } from 'node:events'
import { NewsRechecks } from './news-rechecks.ts'

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

export interface UnnotifiedEvent extends SequencedEvent {
  conversationId: string
}

/** Where the numbers are kept. One `append` per conversation at a time in a process (EventIndex sees to it). */
export interface EventStore {
  /**
   * Numbers the events not numbered yet, in the order given, after the conversation's
   * highest number, and stores them; an event already numbered (by ID) keeps its number.
   * `all`: every event given with its number; `fresh`: those this call numbered.
   * `notify`: the events this call numbers are also listed as not notified yet, in the
   * same write (events/notifications.ts), until `notified` takes them off.
   */
  append(conversationId: string, events: readonly ParleyEvent[], options?: { notify?: boolean }): Promise<{ all: SequencedEvent[]; fresh: SequencedEvent[] }>
  /**
   * Events listed as not notified whose listing is `graceMs` old or more, at most `limit`,
   * each claimed: its listing is dated now, so no other call (of any node) returns it for
   * another `graceMs`. Ordered by conversation, then number.
   */
  claimUnnotified(graceMs: number, limit: number): Promise<UnnotifiedEvent[]>
  /** Takes events off the not-notified list (their notifications are queued). */
  notified(events: readonly { conversationId: string; seq: number }[]): Promise<void>
  lastSeq(conversationId: string): Promise<number>
  seqOf(conversationId: string, eventId: string): Promise<number | undefined>
  /**
   * Is `seqOf` a round trip (PostgreSQL)? Not where it reads a local database the numbering
   * reads anyway and keeps what it read (LevelDB): the event-ID check then looks every ID up
   * (events/event-ids.ts).
   */
  readonly remoteLookups: boolean
  /** At most `limit` events after `after`, or the last `limit` before `before`; oldest first. */
  page(conversationId: string, cursor: Cursor, limit: number): Promise<SequencedEvent[]>
  /** Drops what the store caches about a conversation. */
  forget(conversationId: string): void
}

/**
 * How a node hears of events other nodes number (cluster/change-bus.ts): `join` while this
 * node has waiters on a conversation, `leave` when the last one goes; the feed then calls
 * the index's `news` for each change another node published there, and when it starts (or
 * starts again) to hear the conversation.
 */
export interface EventFeed {
  join(conversationId: string): void
  leave(conversationId: string): void
}

export interface EventIndexOptions {
  readonly feed?: EventFeed
  /** List what this index numbers as not notified yet (webhooks or Web Push are on: events/notifications.ts). */
  readonly notify?: boolean
  /** The first wait before a failed numbering is tried again (ms; doubled while it keeps failing, up to 30 s). */
  readonly retryMs?: number
  /** When to read numbers back again after news (news-rechecks.ts RECHECK_MS; shorter in tests). */
  readonly recheckMs?: readonly number[]
  readonly log?: { warn(obj: object, msg: string): void }
}

interface QueuedNumbering {
  /** By ID, in the order the calls gave them. */
  readonly events: Map<string, ParleyEvent>
  /** Every event of the group, numbered, by ID. */
  done: Promise<Map<string, SequencedEvent>>
}

/** Events read back per query when catching up on news. */
const NEWS_PAGE = 500
const RETRY_MS = 1000
const MAX_RETRY_MS = 30_000

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
  /** Per conversation, the numbering waiting for its turn, which later calls join. */
  readonly #queued = new Map<string, QueuedNumbering>()
  /** The highest number this node has announced per conversation. */
  readonly #seen = new Map<string, number>()
  readonly #feed: EventFeed | undefined
  /** Waiters (long polls, SSE streams) per conversation: bounded by the open requests. */
  readonly #followers = new Map<string, number>()
  /** Conversations with a catch-up queued and not started: news arriving meanwhile joins it. */
  readonly #newsQueued = new Set<string>()
  /** News may come before the numbers: read again after it. */
  readonly #rechecks: NewsRechecks
  readonly #options: EventIndexOptions
  /** Events whose numbering failed, per conversation (by ID, in the order given), waiting to be tried again. */
  readonly #failed = new Map<string, Map<string, ParleyEvent>>()
  /** The wait before the next retry; 0 while numbering succeeds. */
  #retryMs = 0
  #retryTimer: NodeJS.Timeout | undefined
  #closed = false

  constructor(store: EventStore, options: EventIndexOptions = {}) {
    super()
    this.setMaxListeners(0)
    this.#store = store
    this.#feed = options.feed
    this.#options = options
    this.#rechecks = new NewsRechecks(conversationId => void this.#catchUpSoon(conversationId).catch(error => options.log?.warn({ err: error, conversationId }, 'could not read events numbered on other nodes')), options.recheckMs)
  }

  /**
   * Numbers the events not numbered yet, in the order given; resolves with all of them. On
   * failure the caller is rejected and the events are kept to be tried again (first, with
   * the conversation's next events, or on their own after the retry delay). Calls for a
   * conversation whose numbering is still waiting its turn join it: one store write numbers
   * them all, in the order the calls came (a busy conversation pays one write per group).
   * Read receipts are left out (isNumbered).
   */
  record(conversationId: string, given: ParleyEvent[]): Promise<SequencedEvent[]> {
    const events = given.filter(isNumbered)
    if (events.length === 0 && !this.#failed.has(conversationId)) return Promise.resolve([])
    let batch = this.#queued.get(conversationId)
    if (!batch) {
      const queued: QueuedNumbering = { events: new Map(), done: undefined! }
      queued.done = this.#serially(conversationId, async () => {
        this.#queued.delete(conversationId)
        const all = await this.#recordHeld(conversationId, [...queued.events.values()])
        // Once per group, not per call: a busy conversation's group has a call per message.
        return new Map(all.map(sequenced => [sequenced.event.id, sequenced]))
      })
      this.#queued.set(conversationId, (batch = queued))
    }
    for (const event of events) if (!batch.events.has(event.id)) batch.events.set(event.id, event)
    // The caller's events, in its order.
    return batch.done.then(byId => events.map(event => byId.get(event.id)!))
  }

  /** Numbers `events` after the events held from a failed numbering, if any. */
  async #recordHeld(conversationId: string, events: ParleyEvent[]): Promise<SequencedEvent[]> {
    const held = this.#failed.get(conversationId)
    this.#failed.delete(conversationId)
    const all = held ? [...held.values(), ...events.filter(event => !held.has(event.id))] : events
    try {
      const recorded = await this.#record(conversationId, all)
      if (held) this.#retryMs = 0
      return recorded
    } catch (error) {
      // A refusal of the data itself would fail again every time and hold the conversation's later events with it.
      if (!isRefusal(error)) this.#hold(conversationId, all)
      throw error
    }
  }

  /** Stops retrying failed numberings (the server is closing). */
  close(): void {
    this.#closed = true
    this.#rechecks.close()
    clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
  }

  /** Keeps events whose numbering failed and schedules a retry (the wait doubles while retries fail). */
  #hold(conversationId: string, events: readonly ParleyEvent[]): void {
    if (events.length === 0) return
    let held = this.#failed.get(conversationId)
    if (!held) this.#failed.set(conversationId, (held = new Map()))
    for (const event of events) if (!held.has(event.id)) held.set(event.id, event)
    if (this.#retryTimer || this.#closed) return
    const first = this.#options.retryMs ?? RETRY_MS
    this.#retryMs = this.#retryMs === 0 ? first : Math.min(MAX_RETRY_MS, this.#retryMs * 2)
    this.#retryTimer = setTimeout(() => void this.#retry(), this.#retryMs)
    this.#retryTimer.unref()
  }

  /** Numbers every held conversation's events again (record takes them first); a failure holds them again. */
  async #retry(): Promise<void> {
    this.#retryTimer = undefined
    const conversations = [...this.#failed.keys()]
    const results = await Promise.allSettled(conversations.map(conversationId => this.record(conversationId, [])))
    const failed = results.filter(result => result.status === 'rejected')
    if (failed.length > 0) this.#options.log?.warn({ err: failed[0]!.reason, conversations: failed.length }, 'numbering events failed again; retrying')
  }

  /**
   * A waiter on the conversation's new events (a long poll, an SSE stream): the node hears
   * the conversation on the feed until the returned release is called (counted: the feed
   * is left with the last waiter). Resolves once announcements have a starting point, so
   * that a waiter that reads the store after this resolves misses nothing announced later.
   */
  async follow(conversationId: string): Promise<() => void> {
    const count = this.#followers.get(conversationId) ?? 0
    this.#followers.set(conversationId, count + 1)
    if (count === 0) this.#feed?.join(conversationId)
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      const left = (this.#followers.get(conversationId) ?? 1) - 1
      if (left > 0) return void this.#followers.set(conversationId, left)
      this.#followers.delete(conversationId)
      this.#rechecks.stop(conversationId)
      this.#feed?.leave(conversationId)
    }
    try {
      if (!this.#seen.has(conversationId)) await this.#serially(conversationId, () => this.#startAnnouncing(conversationId))
    } catch (error) {
      release()
      throw error
    }
    return release
  }

  /**
   * Another node may have numbered events in the conversation (the feed heard its change,
   * or this node just began to hear the conversation): with waiters here, the numbers after
   * the last announced are read back from the store and announced, now and again shortly
   * after (news-rechecks.ts). Nothing to do without waiters.
   */
  async news(conversationId: string): Promise<void> {
    if (!this.#followers.has(conversationId)) return
    this.#rechecks.news(conversationId)
    await this.#catchUpSoon(conversationId)
  }

  /** Catches up once more, with waiters here; asked again while a catch-up is queued, that one serves. */
  async #catchUpSoon(conversationId: string): Promise<void> {
    if (!this.#followers.has(conversationId) || this.#newsQueued.has(conversationId)) return
    this.#newsQueued.add(conversationId)
    await this.#serially(conversationId, async () => {
      this.#newsQueued.delete(conversationId)
      await this.#catchUp(conversationId)
    })
  }

  /** Drops a conversation's cached numbers (its head was unloaded), unless a write is under way or someone waits on it. */
  forget(conversationId: string): void {
    if (this.#writes.has(conversationId) || this.#followers.has(conversationId)) return
    this.#seen.delete(conversationId)
    this.#store.forget(conversationId)
  }

  lastSeq(conversationId: string): Promise<number> {
    return this.#store.lastSeq(conversationId)
  }

  seqOf(conversationId: string, eventId: string): Promise<number | undefined> {
    return this.#store.seqOf(conversationId, eventId)
  }

  get remoteLookups(): boolean {
    return this.#store.remoteLookups
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
    const release = await this.follow(conversationId)
    try {
      return await new Promise<boolean>((resolve, reject) => {
        let settled = false
        const settle = (): boolean => {
          if (settled) return false
          settled = true
          clearTimeout(timer)
          this.off('stored', onStored)
          signal?.removeEventListener('abort', onAbort)
          return true
        }
        const done = (arrived: boolean): void => void (settle() && resolve(arrived))
        const onStored = (id: string, events: SequencedEvent[]): void => {
          if (id === conversationId && events.some(({ seq }) => seq > after)) done(true)
        }
        const onAbort = (): void => done(false)
        const timer = setTimeout(() => done(false), timeoutMs)
        // Listening before the store is read: an announcement during the read is not missed.
        this.on('stored', onStored)
        signal?.addEventListener('abort', onAbort)
        // Aborted while following began: 'abort' will not fire again.
        if (signal?.aborted) return done(false)
        this.lastSeq(conversationId).then(
          last => last > after && done(true),
          error => settle() && reject(error),
        )
      })
    } finally {
      release()
    }
  }

  /** Runs writes and catch-ups of one conversation one after another. */
  #serially<T>(conversationId: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#writes.get(conversationId) ?? Promise.resolve()
    const run = previous.then(task)
    const settled = run.catch(() => undefined)
    this.#writes.set(conversationId, settled)
    void settled.then(() => this.#writes.get(conversationId) === settled && this.#writes.delete(conversationId))
    return run
  }

  /** Announces what the store numbered after the highest announced here (another node's events). */
  async #catchUp(conversationId: string): Promise<void> {
    for (;;) {
      const seen = this.#seen.get(conversationId)
      if (seen === undefined) return // no waiter started (follow sets it)
      const events = await this.#store.page(conversationId, { after: seen }, NEWS_PAGE)
      const last = events.at(-1)
      if (last === undefined) return
      this.#seen.set(conversationId, last.seq)
      this.emit('stored', conversationId, events)
      if (events.length < NEWS_PAGE) return
    }
  }

  /** Where this node's announcements start, unless they have (a cached read with LevelDB). */
  async #startAnnouncing(conversationId: string): Promise<void> {
    if (!this.#seen.has(conversationId)) this.#seen.set(conversationId, await this.#store.lastSeq(conversationId))
  }

  async #record(conversationId: string, events: ParleyEvent[]): Promise<SequencedEvent[]> {
    await this.#startAnnouncing(conversationId)
    const { all, fresh } = await this.#store.append(conversationId, events, { notify: this.#options.notify === true })
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

/**
 * Read receipts are not numbered: they are the devices' way of showing who read what
 * (clients/sdk/src/read-cursor.ts), not the conversation's history, and a group reading
 * along writes more of them than messages. So long polls, SSE streams, webhooks and
 * --publish-events never see them, as when they were cursors in the head (docs/http.md).
 */
export const isNumbered = (event: ParleyEvent): boolean => event.type !== 'read'

/** A PostgreSQL refusal of the data (SQLSTATE class 22 data exception, 23 integrity, 42 syntax or access): retrying cannot help. */
function isRefusal(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code
  return typeof code === 'string' && /^(22|23|42)[0-9A-Z]{3}$/.test(code)
}
