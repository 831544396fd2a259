/** Options of the webhook dispatcher, validated once at `open`, and its retry delays. */
import { ParleyError, ServerErrorCodes } from '../errors.ts'
import type { PostgresPool } from '../storage/postgres/pool.ts'
import { attemptDelivery } from './attempt.ts'
import type { QueuedNotification } from './dispatcher.ts'

export interface WebhookOptions {
  /** LevelDB directory for the queue and dead letters (its own database); or `postgres`. */
  dir?: string
  /** The queue in PostgreSQL, shared by the nodes of a cluster (postgres-dispatcher.ts); `dir` is then unused. */
  postgres?: PostgresPool
  /** PostgreSQL: the queue's table (default parley_webhooks; the Web Push queue is parley_push_queue, migration 5). */
  table?: 'parley_webhooks' | 'parley_push_queue'
  /** PostgreSQL: how long a node's claim on a notification it is delivering lasts (a dead node's claims lapse after it); default timeoutMs + 30 s. */
  leaseMs?: number
  /** PostgreSQL: how often a node looks for notifications due (queued by other nodes, or backing off); default 1 s. */
  pollMs?: number
  /** Where notifications are POSTed (attempt.ts); required unless `deliver` is given. */
  url?: string
  /** HMAC-SHA256 key for `X-Parley-Signature`; required with `url`. */
  secret?: string
  /**
   * One attempt at delivering a notification some other way than a signed POST to `url`
   * (Web Push: push/sender.ts): resolves with why it failed (it is retried with this
   * queue's backoff, then dead-lettered), or undefined when it is done with.
   */
  deliver?: Deliver
  /** Failed attempts before a notification becomes a dead letter; default 8. */
  maxAttempts?: number
  /** Full-jitter exponential backoff between attempts; default 500 ms .. 5 min. */
  backoff?: { minMs: number; maxMs: number }
  /** Per request; default 10 s. */
  timeoutMs?: number
  /** Parallel deliveries; default 4. */
  concurrency?: number
  /** Queued notifications held in memory per priority (the rest wait on disk only); default 64. */
  window?: number
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void }
  random?: () => number
}

export type Deliver = (notification: QueuedNotification, attempt: number) => Promise<string | undefined>

export type Settings = Readonly<
  Required<Omit<WebhookOptions, 'backoff' | 'dir' | 'postgres' | 'url' | 'secret'>> & Pick<WebhookOptions, 'dir' | 'postgres'> & { backoff: Readonly<{ minMs: number; maxMs: number }> }
>

const KNOWN_OPTIONS = new Set(['dir', 'postgres', 'table', 'leaseMs', 'pollMs', 'url', 'secret', 'deliver', 'maxAttempts', 'backoff', 'timeoutMs', 'concurrency', 'window', 'log', 'random'])

/** Full jitter, as clients/sdk's reconnect backoff: min + U(0, min(max, min·2^attempt)), capped at max. */
export function backoffDelay(attempt: number, { minMs, maxMs }: { minMs: number; maxMs: number }, random: () => number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 31))
  return Math.min(maxMs, minMs + Math.floor(random() * ceiling))
}

/** Defaults filled in, unknown keys and nonsense refused (PARLEY_ERR_INVALID_OPTION), then frozen. */
export function validateOptions(options: WebhookOptions): Settings {
  const fail = (message: string): never => { throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `webhooks: ${message}`) }
  const unknown = Object.keys(options).filter(key => !KNOWN_OPTIONS.has(key))
  if (unknown.length > 0) fail(`unknown option ${unknown.join(', ')}`)
  const { url, secret } = options
  if (options.deliver === undefined) {
    if (url === undefined || !/^https?:\/\//.test(url) || !URL.canParse(url)) fail(`url must be an http(s) URL, got ${JSON.stringify(url)}`)
    if (!secret) fail('secret must not be empty')
  }
  if (!options.dir && !options.postgres) fail('dir must not be empty')
  if (options.table !== undefined && !['parley_webhooks', 'parley_push_queue'].includes(options.table)) fail(`table must be parley_webhooks or parley_push_queue, got ${JSON.stringify(options.table)}`)
  const { url: _url, secret: _secret, ...rest } = options
  const timeoutMs = options.timeoutMs ?? 10_000
  const settings = {
    ...rest,
    table: options.table ?? 'parley_webhooks',
    deliver: options.deliver ?? ((n: QueuedNotification, attempt: number) => attemptDelivery({ url: url!, secret: secret!, timeoutMs }, n, attempt)),
    maxAttempts: options.maxAttempts ?? 8,
    backoff: Object.freeze({ ...(options.backoff ?? { minMs: 500, maxMs: 300_000 }) }),
    timeoutMs,
    concurrency: options.concurrency ?? 4,
    window: options.window ?? 64,
    random: options.random ?? Math.random,
    leaseMs: options.leaseMs ?? (options.timeoutMs ?? 10_000) + 30_000,
    pollMs: options.pollMs ?? 1000,
  }
  for (const key of ['maxAttempts', 'timeoutMs', 'concurrency', 'window', 'leaseMs', 'pollMs'] as const) {
    if (!Number.isInteger(settings[key]) || settings[key] < 1) fail(`${key} must be a positive integer, got ${settings[key]}`)
  }
  if (settings.leaseMs <= settings.timeoutMs) fail(`leaseMs must be longer than timeoutMs, got ${settings.leaseMs} <= ${settings.timeoutMs}`)
  const { minMs, maxMs } = settings.backoff
  if (!(minMs >= 0 && maxMs >= minMs)) fail(`backoff needs 0 <= minMs <= maxMs, got ${minMs} .. ${maxMs}`)
  return Object.freeze(settings)
}
