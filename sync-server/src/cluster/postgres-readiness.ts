/**
 * Whether the PostgreSQL the nodes share answers, for /readyz (docs/cluster.md, "What
 * happens when…"): a node that cannot reach it cannot number events, store changes for
 * the other nodes to reload, or read what they stored, so a load balancer should send new
 * callers elsewhere. One `SELECT 1` at a time, every `everyMs`; a probe still unanswered
 * after `timeoutMs` counts as unreachable (a host that drops packets never refuses).
 */
import type { FastifyBaseLogger } from 'fastify'
import type { PostgresPool } from '../storage/postgres/index.ts'

export interface PostgresReadinessOptions {
  readonly everyMs: number
  readonly timeoutMs: number
  readonly log?: FastifyBaseLogger
}

export interface PostgresStatus {
  readonly reachable: boolean
  /** Why not, when not (no credential: the driver's message or the timeout). */
  readonly problem?: string
  /** Since when (ms since the epoch), when not. */
  readonly since?: number
}

export class PostgresReadiness {
  readonly #pool: Pick<PostgresPool, 'query'>
  readonly #options: PostgresReadinessOptions
  readonly #timer: ReturnType<typeof setInterval>
  #status: PostgresStatus = { reachable: true }
  /** When the probe under way started; undefined when none is. */
  #probing: number | undefined

  constructor(pool: Pick<PostgresPool, 'query'>, options: PostgresReadinessOptions) {
    this.#pool = pool
    this.#options = options
    this.#timer = setInterval(() => this.#tick(), options.everyMs)
    this.#timer.unref()
  }

  status(): PostgresStatus {
    return this.#status
  }

  stop(): void {
    clearInterval(this.#timer)
  }

  #tick(): void {
    if (this.#probing !== undefined) {
      if (Date.now() - this.#probing >= this.#options.timeoutMs) this.#set(false, `no answer within ${this.#options.timeoutMs} ms`)
      return
    }
    const started = (this.#probing = Date.now())
    this.#pool.query('SELECT 1').then(
      () => this.#probed(started, true),
      (error: Error) => this.#probed(started, false, error.message),
    )
  }

  #probed(started: number, reachable: boolean, problem?: string): void {
    if (this.#probing !== started) return
    this.#probing = undefined
    this.#set(reachable, problem)
  }

  #set(reachable: boolean, problem = 'unreachable'): void {
    const was = this.#status.reachable
    if (reachable) {
      this.#status = { reachable: true }
      if (!was) this.#options.log?.warn('PostgreSQL answers again (ready)')
      return
    }
    if (was) this.#options.log?.error({ problem }, 'PostgreSQL does not answer (not ready)')
    this.#status = { reachable: false, problem, since: was ? Date.now() : (this.#status.since ?? Date.now()) }
  }
}
