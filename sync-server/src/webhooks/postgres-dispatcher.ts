/**
 * The webhook queue in PostgreSQL (migration 4), shared by the nodes of a cluster: any
 * node enqueues, and each notification is delivered by one node at a time. A node takes
 * due notifications by claiming them for `leaseMs` (`FOR UPDATE SKIP LOCKED`: two nodes
 * claiming at once never take the same row), POSTs them, and deletes, reschedules or
 * dead-letters each, only while the claim is still its own. A node that dies holding
 * claims lets them lapse; another node takes them at its next look (every `pollMs`).
 *
 * Order is the LevelDB queue's: priority first, then due time, then ID. Delivery is at
 * least once, as there: receivers deduplicate on `id`. Memory holds only what is in
 * flight; `stats().queued` and `deadLetters` count the whole shared queue as of the last
 * look. A notification queued again under an ID the table holds (queued or dead: its key
 * is its event's, webhooks/dispatcher.ts notificationKey) adds nothing.
 */
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { ParleyError, ServerErrorCodes } from '../errors.ts'
import type { PostgresPool } from '../storage/postgres/pool.ts'
import { WriteBatch } from '../storage/write-batch.ts'
import { queuedNotification, RANK, type QueuedNotification, type WebhookEvents, type WebhookNotification, type WebhookQueue, type WebhookStats } from './dispatcher.ts'
import { backoffDelay, validateOptions, type Settings, type WebhookOptions } from './options.ts'

interface ClaimedRow extends Record<string, unknown> { id: string; rank: number; due: Date; notification: QueuedNotification }

const MAX_TIMER_MS = 2 ** 31 - 1

export class PostgresWebhookDispatcher extends EventEmitter<WebhookEvents> implements WebhookQueue {
  readonly #pool: PostgresPool
  readonly #options: Settings
  /** Names this node's claims. */
  readonly #node = randomBytes(8).toString('hex')
  readonly #inFlight = new Map<string, Promise<void>>()
  readonly #enqueued: WriteBatch<QueuedNotification>
  readonly #delivered: WriteBatch<string>
  #claiming = false
  #poll: NodeJS.Timeout | undefined
  #wake: NodeJS.Timeout | undefined
  #closing: Promise<void> | undefined
  #counts = { queued: 0, dead: 0 }
  #retries = 0
  #deliveredCount = 0

  private constructor(pool: PostgresPool, options: Settings) {
    super()
    this.#pool = pool
    this.#options = options
    // One of two fixed names (options.ts), never client input.
    const table = options.table
    this.#enqueued = new WriteBatch(async notifications => {
      await pool.query(`INSERT INTO ${table} (id, rank, due, notification) SELECT id, rank, now(), n FROM unnest($1::text[], $2::smallint[], $3::jsonb[]) AS t(id, rank, n) ON CONFLICT (id) DO NOTHING`, [
        notifications.map(n => n.id),
        notifications.map(n => RANK[n.priority]),
        notifications.map(n => JSON.stringify(n)),
      ])
    })
    this.#delivered = new WriteBatch(async ids => {
      await pool.query(`DELETE FROM ${table} WHERE id = ANY ($1::text[]) AND claimed_by = $2`, [ids, this.#node])
    })
  }

  /** Over `options.postgres` (migrated: storage/databases.ts); starts delivering what is due. */
  static async open(options: WebhookOptions): Promise<PostgresWebhookDispatcher> {
    const settings = validateOptions(options)
    if (settings.postgres === undefined) throw new ParleyError(ServerErrorCodes.INVALID_OPTION, 'webhooks: the PostgreSQL queue needs a pool')
    const dispatcher = new PostgresWebhookDispatcher(settings.postgres, settings)
    await dispatcher.#count()
    const { queued, dead } = dispatcher.#counts
    if (queued > 0 || dead > 0) settings.log.info({ queued, deadLetters: dead }, 'webhook queue resumed (PostgreSQL)')
    dispatcher.#poll = setInterval(() => dispatcher.#look(), settings.pollMs)
    dispatcher.#poll.unref()
    dispatcher.#pump()
    return dispatcher
  }

  async enqueue(notification: WebhookNotification): Promise<string> {
    const n = queuedNotification(notification, Date.now())
    await this.#enqueued.add([n])
    this.#counts.queued++
    this.#pump()
    return n.id
  }

  async deadLetters({ limit = 100, after }: { limit?: number; after?: string } = {}): Promise<QueuedNotification[]> {
    const rows = await this.#pool.query<{ notification: QueuedNotification }>(`SELECT notification FROM ${this.#options.table} WHERE dead AND id > $1 ORDER BY id LIMIT $2`, [after ?? '', limit])
    return rows.map(row => row.notification)
  }

  /** Moves a dead letter back to the queue with its attempts reset; false if unknown (or another call replayed it first). */
  async replay(id: string): Promise<boolean> {
    const rows = await this.#pool.query(
      `UPDATE ${this.#options.table} SET dead = false, due = now(), claimed_by = NULL, claimed_until = NULL,
         notification = (notification - 'lastError') || '{"attempts": 0}'::jsonb
       WHERE id = $1 AND dead RETURNING id`,
      [id],
    )
    if (rows.length === 0) return false
    this.#counts.dead = Math.max(0, this.#counts.dead - 1)
    this.#counts.queued++
    this.#options.log.info({ id }, 'webhook dead letter replayed')
    this.#pump()
    return true
  }

  stats(): WebhookStats {
    const inFlight = this.#inFlight.size
    return { queued: Math.max(0, this.#counts.queued - inFlight), held: 0, inFlight, retries: this.#retries, deadLetters: this.#counts.dead, delivered: this.#deliveredCount }
  }

  /** Stops claiming, waits for in-flight requests (each bounded by `timeoutMs`) and their bookkeeping. The pool is the caller's. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#poll)
      clearTimeout(this.#wake)
      await Promise.all(this.#inFlight.values())
    })()
    return this.#closing
  }

  /** The periodic look: the shared counts, and whatever became due or lapsed. */
  #look(): void {
    this.#count().catch(error => this.#options.log.warn({ err: error }, 'could not count queued webhooks'))
    this.#pump()
  }

  async #count(): Promise<void> {
    const [row] = await this.#pool.query<{ queued: number; dead: number }>(`SELECT count(*) FILTER (WHERE NOT dead)::int AS queued, count(*) FILTER (WHERE dead)::int AS dead FROM ${this.#options.table}`)
    if (row) this.#counts = { queued: row.queued, dead: row.dead }
  }

  /** Claims as many due notifications as there is room for, and starts delivering them. */
  #pump(): void {
    const room = this.#options.concurrency - this.#inFlight.size
    if (this.#closing || this.#claiming || room <= 0) return
    this.#claiming = true
    this.#claim(room).then(
      rows => {
        this.#claiming = false
        for (const row of rows) this.#start(row)
        // A full claim: more may be due.
        if (rows.length === room) this.#pump()
      },
      error => {
        this.#claiming = false
        this.#options.log.warn({ err: error }, 'could not claim queued webhooks')
      },
    )
  }

  async #claim(limit: number): Promise<ClaimedRow[]> {
    const rows = await this.#pool.query<ClaimedRow>(
      `UPDATE ${this.#options.table} w SET claimed_by = $1, claimed_until = now() + make_interval(secs => $2::float8 / 1000)
       FROM (SELECT id FROM ${this.#options.table}
             WHERE NOT dead AND due <= now() AND (claimed_until IS NULL OR claimed_until < now())
             ORDER BY rank, due, id LIMIT $3 FOR UPDATE SKIP LOCKED) c
       WHERE w.id = c.id
       RETURNING w.id, w.rank, w.due, w.notification`,
      [this.#node, this.#options.leaseMs, limit],
    )
    return rows.sort((a, b) => a.rank - b.rank || a.due.getTime() - b.due.getTime() || (a.id < b.id ? -1 : 1))
  }

  #start(row: ClaimedRow): void {
    const { id } = row
    const settle = (): void => {
      this.#inFlight.delete(id)
      this.#pump()
    }
    const delivery = this.#deliver(row.notification)
      .then(([event, n]) => (settle(), this.emit(event, n)), error => (settle(), this.#options.log.warn({ err: error, id }, 'webhook bookkeeping failed')))
      .catch(error => this.#options.log.warn({ err: error, id }, 'webhook listener threw'))
      .then(() => undefined)
    this.#inFlight.set(id, delivery)
  }

  /** One attempt and its bookkeeping; answers the event to emit. */
  async #deliver(n: QueuedNotification): Promise<[keyof WebhookEvents, QueuedNotification]> {
    const attempt = n.attempts + 1
    const error = await this.#options.deliver(n, attempt)
    if (error === undefined) {
      await this.#delivered.add([n.id])
      this.#counts.queued = Math.max(0, this.#counts.queued - 1)
      this.#deliveredCount++
      return ['delivered', { ...n, attempts: attempt }]
    }
    const failed: QueuedNotification = { ...n, attempts: attempt, lastError: error }
    if (attempt >= this.#options.maxAttempts) {
      await this.#release(failed, { dead: true })
      this.#counts.queued = Math.max(0, this.#counts.queued - 1)
      this.#counts.dead++
      this.#options.log.warn({ id: n.id, conversationId: n.conversationId, attempts: attempt, lastError: error }, 'webhook notification dead-lettered')
      return ['dead-letter', failed]
    }
    const delayMs = backoffDelay(attempt - 1, this.#options.backoff, this.#options.random)
    await this.#release(failed, { delayMs })
    this.#retries++
    // The periodic look would find it too; a retry due sooner should not wait for that.
    if (delayMs < this.#options.pollMs) this.#wakeIn(delayMs)
    return ['retry', failed]
  }

  /** Gives up this node's claim, writing the attempt: back in the queue after `delayMs`, or a dead letter. */
  async #release(n: QueuedNotification, outcome: { dead: true } | { delayMs: number }): Promise<void> {
    await this.#pool.query(
      `UPDATE ${this.#options.table} SET notification = $3::jsonb, claimed_by = NULL, claimed_until = NULL,
         dead = $4, due = now() + make_interval(secs => $5::float8 / 1000)
       WHERE id = $1 AND claimed_by = $2`,
      [n.id, this.#node, JSON.stringify(n), 'dead' in outcome, 'dead' in outcome ? 0 : outcome.delayMs],
    )
  }

  #wakeIn(ms: number): void {
    if (this.#closing) return
    clearTimeout(this.#wake)
    this.#wake = setTimeout(() => this.#pump(), Math.min(MAX_TIMER_MS, ms))
    this.#wake.unref()
  }
}
