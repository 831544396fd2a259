/**
 * Webhook delivery for members with no connected device: the server decides who is
 * offline and enqueues; this module persists, POSTs, retries and dead-letters.
 *
 * The queue lives in its own LevelDB so a restart loses nothing. A queued notification
 * is stored under `q:<rank>:<due>:<id>`, so key order is delivery order: priority rank
 * first, then due time (FIFO for fresh notifications; one backing off takes its place
 * when its backoff ends), with time-sortable IDs breaking ties. Dead letters live under
 * `d:<id>`.
 *
 * Memory holds a bounded window of the queue, not the queue: per rank, the first
 * `window` keys in order (so picking the next delivery stays synchronous), and a flag
 * saying whether that is all of the rank. A notification that sorts after a full window
 * is written to disk only; when a window runs down to half, it is refilled from disk. A
 * receiver that is down while messages pour in grows the database, not the heap (it
 * held every queued notification, each with its text and recipient list: issue 13).
 * Every write and every refill runs one after another (`#serial`), so a refill never
 * reads a key that a write is about to change.
 *
 * Delivery is at least once: a crash between the POST and the delete re-sends, so
 * receivers deduplicate on `id` (also sent as `X-Parley-Delivery`).
 */
import { createHash, randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { Level } from 'level'
import { ParleyError, ServerErrorCodes } from '../errors.ts'
import { backoffDelay, validateOptions, type Settings, type WebhookOptions } from './options.ts'

export type { WebhookOptions } from './options.ts'
export { signWebhook, verifyWebhook, type HeaderSource } from './signature.ts'

export type Priority = 'high' | 'normal' | 'low'
export interface WebhookNotification {
  conversationId: string
  /** The event's server sequence number in its conversation. */
  seq: number
  /** The event JSON (id, type, author, at, text?, …). */
  event: Record<string, unknown>
  /** User IDs with no connected device. */
  recipients: string[]
  priority: Priority
  /** What one delivery is addressed to beyond the recipients, when the queue's `deliver` needs it (Web Push: the device's subscription ID). */
  target?: string
  /**
   * The notification's ID, when it must not depend on when it is queued (`notificationKey`):
   * queueing it again while the PostgreSQL queue holds it adds nothing, and a receiver
   * that deduplicates on `id` acts once however often it arrives. Default: a new ID.
   */
  key?: string
}
export interface QueuedNotification extends WebhookNotification { id: string; attempts: number; enqueuedAt: number; lastError?: string }
export interface WebhookStats {
  /** Waiting in the queue (due or backing off), not counting those in flight. */
  queued: number
  /** How many of those are held in memory: at most `window` per priority, the rest are on disk only. */
  held: number
  inFlight: number
  /** Failed attempts rescheduled since `open`. */
  retries: number
  /** Dead letters stored now. */
  deadLetters: number
  /** Delivered since `open`. */
  delivered: number
}
export type WebhookEvents = { [K in 'delivered' | 'retry' | 'dead-letter']: [QueuedNotification] }

/** What the server uses of a webhook queue: this LevelDB one, or the PostgreSQL one a cluster shares (postgres-dispatcher.ts). */
export interface WebhookQueue extends EventEmitter<WebhookEvents> {
  enqueue(notification: WebhookNotification): Promise<string>
  deadLetters(page?: { limit?: number; after?: string }): Promise<QueuedNotification[]>
  replay(id: string): Promise<boolean>
  stats(): WebhookStats
  close(): Promise<void>
}

export const RANK: Record<Priority, number> = { high: 0, normal: 1, low: 2 }
const RANKS = [0, 1, 2] as const
const QUEUE = 'q:'
const DEAD = 'd:'
const MAX_TIMER_MS = 2 ** 31 - 1

interface Entry { key: string; due: number; n: QueuedNotification }

export class WebhookDispatcher extends EventEmitter<WebhookEvents> implements WebhookQueue {
  readonly #db: Level<string, QueuedNotification>
  readonly #options: Settings
  /** Per priority rank, the first queued notifications by key (at most `window`), not counting those in flight. */
  readonly #ready: Entry[][] = [[], [], []]
  /** Per rank: whether `#ready` holds all of the rank's queue; if not, the rest is on disk only. */
  readonly #complete = [true, true, true]
  readonly #refilling = [false, false, false]
  readonly #inFlight = new Map<string, Promise<void>>()
  /** Keys of the deliveries in flight: still on disk until their outcome is written, never loaded twice. */
  readonly #inFlightKeys = new Set<string>()
  /** Notifications under `q:` on disk, those in flight included. */
  #queued = 0
  /** The tail of the chain every database write and refill runs on, one after another. */
  #lock: Promise<unknown> = Promise.resolve()
  /** Dead letters being replayed: two racing replays must not queue one twice. */
  readonly #replaying = new Set<string>()
  #timer: NodeJS.Timeout | undefined
  #closing: Promise<void> | undefined
  #deadLetters = 0
  #retries = 0
  #delivered = 0

  private constructor(db: Level<string, QueuedNotification>, options: Settings) {
    super()
    this.#db = db
    this.#options = options
  }

  /** Opens the database and resumes whatever was queued before a restart. */
  static async open(options: WebhookOptions): Promise<WebhookDispatcher> {
    const settings = validateOptions(options)
    if (settings.dir === undefined) throw new ParleyError(ServerErrorCodes.INVALID_OPTION, 'webhooks: dir must not be empty')
    const db = new Level<string, QueuedNotification>(settings.dir, { valueEncoding: 'json' })
    await db.open()
    const dispatcher = new WebhookDispatcher(db, settings)
    // Keys only: counting a long queue must not load it.
    for await (const _ of db.keys({ gte: QUEUE, lt: 'q;' })) dispatcher.#queued++
    for (const rank of RANKS) await dispatcher.#refill(rank)
    for await (const _ of db.keys({ gte: DEAD, lt: 'd;' })) dispatcher.#deadLetters++
    const queued = dispatcher.stats().queued
    if (queued > 0 || dispatcher.#deadLetters > 0) settings.log.info({ queued, deadLetters: dispatcher.#deadLetters }, 'webhook queue resumed')
    dispatcher.#pump()
    return dispatcher
  }

  /** Resolves once the notification is persisted, with its delivery ID. */
  async enqueue(notification: WebhookNotification): Promise<string> {
    const n = queuedNotification(notification, Date.now())
    await this.#put(n, n.enqueuedAt, [], 1)
    return n.id
  }

  /** Dead letters in ID order, at most `limit` of them, after the one with ID `after` (a page: they pile up while a receiver is down). */
  async deadLetters({ limit = 100, after }: { limit?: number; after?: string } = {}): Promise<QueuedNotification[]> {
    return this.#db.values({ ...(after === undefined ? { gte: DEAD } : { gt: DEAD + after }), lt: 'd;', limit }).all()
  }

  /** Moves a dead letter back to the queue with its attempts reset; false if unknown. */
  async replay(id: string): Promise<boolean> {
    if (this.#replaying.has(id)) return false
    this.#replaying.add(id)
    try {
      const dead = await this.#db.get(DEAD + id)
      if (!dead) return false
      const { lastError: _, ...n } = dead
      await this.#put({ ...n, attempts: 0 }, Date.now(), [{ type: 'del', key: DEAD + id }], 1)
      this.#deadLetters--
    } finally {
      this.#replaying.delete(id)
    }
    this.#options.log.info({ id }, 'webhook dead letter replayed')
    return true
  }

  stats(): WebhookStats {
    const held = this.#ready.reduce((sum, entries) => sum + entries.length, 0)
    return { queued: this.#queued - this.#inFlight.size, held, inFlight: this.#inFlight.size, retries: this.#retries, deadLetters: this.#deadLetters, delivered: this.#delivered }
  }

  /** Stops scheduling, waits for in-flight requests (each bounded by `timeoutMs`), closes the database. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearTimeout(this.#timer)
      await Promise.all(this.#inFlight.values())
      await this.#lock
      await this.#db.close()
    })()
    return this.#closing
  }

  /** Stores `n` in the queue (with `also` in the same batch; `added` to the count), then admits it to memory if it sorts into the window. */
  async #put(n: QueuedNotification, due: number, also: { type: 'del'; key: string }[], added: 0 | 1): Promise<void> {
    const rank = RANK[n.priority]
    const key = `${QUEUE}${rank}:${String(due).padStart(15, '0')}:${n.id}`
    await this.#serial(async () => {
      await this.#db.batch([...also, { type: 'put', key, value: n }])
      this.#queued += added
      this.#admit(rank, { key, due, n })
    })
    this.#pump()
  }

  /** Takes a stored entry into its rank's window when it sorts inside it; otherwise it waits on disk for a refill. */
  #admit(rank: number, entry: Entry): void {
    const window = this.#ready[rank]!
    const last = window.at(-1)
    if (!this.#complete[rank] && (last === undefined || entry.key > last.key)) return
    insertSorted(window, entry)
    if (window.length > this.#options.window) {
      window.pop()
      this.#complete[rank] = false
    }
  }

  /** Loads the first `window` queued entries of a rank (those in flight left out) in place of what memory holds. */
  #refill(rank: number): Promise<void> {
    this.#refilling[rank] = true
    return this.#serial(async () => {
      const entries: Entry[] = []
      let complete = true
      for await (const [key, n] of this.#db.iterator({ gte: `${QUEUE}${rank}:`, lt: `${QUEUE}${rank};` })) {
        if (this.#inFlightKeys.has(key)) continue
        if (entries.length === this.#options.window) {
          complete = false
          break
        }
        entries.push({ key, due: Number(key.split(':')[2]), n })
      }
      // Started while this refill read: those are in flight now, not waiting.
      this.#ready[rank] = entries.filter(entry => !this.#inFlightKeys.has(entry.key))
      this.#complete[rank] = complete
    }).finally(() => {
      this.#refilling[rank] = false
    })
  }

  /** Refills each window that ran down to half while more of its rank waits on disk. */
  #topUp(): void {
    for (const rank of RANKS) {
      if (this.#complete[rank] || this.#refilling[rank] || this.#ready[rank]!.length > this.#options.window / 2) continue
      this.#refill(rank).then(
        () => this.#pump(),
        error => this.#options.log.warn({ err: error, rank }, 'could not load queued webhooks from disk'),
      )
    }
  }

  /** Runs `task` after every write and refill before it. */
  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(task)
    this.#lock = run.catch(() => undefined)
    return run
  }

  /** Starts every due delivery that fits, then arms one timer for the earliest one left. */
  #pump(): void {
    if (this.#closing) return
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#topUp()
    const now = Date.now()
    while (this.#inFlight.size < this.#options.concurrency) {
      // Each rank's first entry is its earliest; the first rank with one due wins.
      const entries = this.#ready.find(rank => rank[0] !== undefined && rank[0].due <= now)
      const entry = entries?.shift()
      if (!entry) break
      const { id } = entry.n
      this.#inFlightKeys.add(entry.key)
      const settle = (): void => {
        this.#inFlight.delete(id)
        this.#inFlightKeys.delete(entry.key)
        this.#pump()
      }
      // Listeners hear of an outcome after its slot is free, so stats() in them is current.
      const delivery = this.#deliver(entry)
        .then(([event, n]) => (settle(), this.emit(event, n)), error => (settle(), this.#options.log.warn({ err: error, id }, 'webhook bookkeeping failed')))
        .catch(error => this.#options.log.warn({ err: error, id }, 'webhook listener threw'))
        .then(() => undefined)
      this.#inFlight.set(id, delivery)
    }
    // At full concurrency a finishing delivery pumps again; no timer needed until then.
    if (this.#inFlight.size >= this.#options.concurrency) return
    const next = Math.min(...this.#ready.map(rank => rank[0]?.due ?? Infinity))
    if (next === Infinity) return
    this.#timer = setTimeout(() => this.#pump(), Math.min(MAX_TIMER_MS, Math.max(0, next - now)))
    // The server's lifecycle decides when the process ends, not a pending retry.
    this.#timer.unref()
  }

  /** One attempt and its bookkeeping; answers the event to emit. */
  async #deliver(entry: Entry): Promise<[keyof WebhookEvents, QueuedNotification]> {
    const { n } = entry
    const attempt = n.attempts + 1
    const { id, conversationId } = n
    const error = await this.#options.deliver(n, attempt)
    if (error === undefined) {
      await this.#serial(async () => {
        await this.#db.del(entry.key)
        this.#queued--
      })
      this.#delivered++
      return ['delivered', { ...n, attempts: attempt }]
    }
    const failed: QueuedNotification = { ...n, attempts: attempt, lastError: error }
    if (attempt >= this.#options.maxAttempts) {
      await this.#serial(async () => {
        await this.#db.batch([{ type: 'del', key: entry.key }, { type: 'put', key: DEAD + id, value: failed }])
        this.#queued--
      })
      this.#deadLetters++
      this.#options.log.warn({ id, conversationId, attempts: attempt, lastError: error }, 'webhook notification dead-lettered')
      return ['dead-letter', failed]
    }
    const due = Date.now() + backoffDelay(attempt - 1, this.#options.backoff, this.#options.random)
    await this.#put(failed, due, [{ type: 'del', key: entry.key }], 0)
    this.#retries++
    return ['retry', failed]
  }
}

/** A notification as either queue stores it, new at `now`; an unknown priority is refused. */
export function queuedNotification(notification: WebhookNotification, now: number): QueuedNotification {
  if (!Object.hasOwn(RANK, notification.priority)) throw new ParleyError(ServerErrorCodes.BAD_REQUEST, `unknown webhook priority ${JSON.stringify(notification.priority)}`)
  const { conversationId, seq, event, recipients, priority, target, key } = notification
  return { id: key ?? newId(now), conversationId, seq, event, recipients, priority, ...(target !== undefined && { target }), attempts: 0, enqueuedAt: now }
}

/** The ID of a notification about one event (and one device, for Web Push): the same whenever and by whichever node it is queued. */
export function notificationKey(conversationId: string, seq: number, target?: string): string {
  return createHash('sha256').update(`${conversationId}\u0000${seq}\u0000${target ?? ''}`).digest('hex').slice(0, 32)
}

let counter = 0
/** Sortable within a process (time, then a counter), unique across processes (random tail). */
export function newId(now: number): string {
  counter = (counter + 1) % 36 ** 4
  return now.toString(36).padStart(9, '0') + counter.toString(36).padStart(4, '0') + randomBytes(5).toString('hex')
}

function insertSorted(entries: Entry[], entry: Entry): void {
  let low = 0
  let high = entries.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if ((entries[mid]?.key ?? '') < entry.key) low = mid + 1
    else high = mid
  }
  entries.splice(low, 0, entry)
}
