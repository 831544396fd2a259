/**
 * The server's Prometheus metrics. Each server owns its registry (not prom-client's
 * global one), so several servers in one process, as in tests, do not clash. Code that
 * has something to count calls a method here; only `text()` knows the exposition format.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { CloseCodes } from '../close-codes.ts'

/** What the network adapter reports. Defined here so that metrics imports nothing from network. */
export interface AdapterMetrics {
  connectionOpened(user: string): void
  /** `code` is the close code the server sent, or the one the client closed with. */
  connectionClosed(user: string, code: number): void
  messageIn(bytes: number): void
  messageOut(bytes: number): void
  /** Seconds from the server receiving a change to relaying it to another peer. */
  deliveryLatency(seconds: number): void
}

export interface ServerMetricsOptions {
  /** How many documents the repo holds in memory; asked at every scrape. */
  documentsLoaded: () => number
  /** Webhook deliveries waiting, asked at every scrape; without it, `webhookQueueDepth()` sets the gauge. */
  webhookQueueDepth?: () => number
  /** Whether document storage takes writes, and how many wait in memory; asked at every scrape. */
  storageStatus?: () => { writable: boolean; heldWrites: number; freeBytes?: number }
}

/** From half a millisecond (a relay on an idle server) to two seconds (something is wrong). */
const DELIVERY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2]
/**
 * Close codes that get a series of their own: the server's (close-codes.ts) and the ones
 * RFC 6455 defines (1000–1015). A client may close with any code from 3000 to 4999; each
 * one as a label would be a new series, so every other code counts as `other`.
 */
const LABELLED_CLOSE_CODES = new Set<number>([...Object.values(CloseCodes), ...Array.from({ length: 16 }, (_, i) => 1000 + i)])

/** The `code` label of parley_connections_closed_total: from a closed set. */
export function closeCodeLabel(code: number): string {
  return LABELLED_CLOSE_CODES.has(code) ? String(code) : 'other'
}

const STORAGE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]

export class ServerMetrics implements AdapterMetrics {
  readonly register = new Registry()
  readonly #loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 })
  /** Open connections per user: a user counts once however many devices they connect. */
  readonly #users = new Map<string, number>()

  readonly #connections: Gauge
  readonly #authenticatedUsers: Gauge
  readonly #longPollsWaiting: Gauge
  readonly #webhookQueueDepth: Gauge
  /** Frames and their bytes each way, read by the two frame counters when scraped (both directions from 0). */
  readonly #frames = { in: { messages: 0, bytes: 0 }, out: { messages: 0, bytes: 0 } }
  readonly #eventsStored: Counter
  readonly #connectionsClosed: Counter<'code'>
  readonly #webhookRetries: Counter
  readonly #webhookDeadLetters: Counter
  readonly #deliveryLatency: Histogram
  readonly #storage: Histogram<'op'>
  readonly #storageWriteFailures: Counter
  readonly #storageCorruptValues: Counter
  readonly #documentsEvicted: Counter

  constructor(options: ServerMetricsOptions) {
    const registers = [this.register]
    const loopDelay = this.#loopDelay
    collectDefaultMetrics({ register: this.register })
    this.#connections = new Gauge({ name: 'parley_connections', help: 'Open WebSocket connections.', registers })
    this.#authenticatedUsers = new Gauge({ name: 'parley_authenticated_users', help: 'Distinct users with at least one open connection.', registers })
    new Gauge({
      name: 'parley_documents_loaded',
      help: 'Documents the repo holds in memory.',
      registers,
      collect() {
        this.set(options.documentsLoaded())
      },
    })
    this.#longPollsWaiting = new Gauge({ name: 'parley_long_polls_waiting', help: 'HTTP long polls waiting for an event.', registers })
    const { webhookQueueDepth } = options
    this.#webhookQueueDepth = new Gauge({
      name: 'parley_webhook_queue_depth',
      help: 'Webhook deliveries waiting to be sent.',
      registers,
      ...(webhookQueueDepth && {
        collect() {
          this.set(webhookQueueDepth())
        },
      }),
    })
    new Gauge({
      name: 'parley_event_loop_lag_seconds',
      help: 'p99 event loop delay since the previous scrape, in seconds (perf_hooks.monitorEventLoopDelay).',
      registers,
      collect() {
        // Each scrape reports the window since the previous one (as prom-client does for nodejs_eventloop_lag_*).
        // NaN before the first sample: report 0 rather than a gap.
        this.set(loopDelay.count > 0 ? loopDelay.percentile(99) / 1e9 : 0)
        loopDelay.reset()
      },
    })
    // Counted in plain numbers on every frame and handed to the counters when scraped: a
    // prom-client inc hashes its labels each time, a cost per frame (and so per message).
    const frames = this.#frames
    const counted = (counter: Counter<'direction'>, field: 'messages' | 'bytes') => {
      counter.reset()
      for (const direction of ['in', 'out'] as const) counter.inc({ direction }, frames[direction][field])
    }
    new Counter({ name: 'parley_sync_messages_total', help: 'WebSocket frames received (in) and sent (out).', labelNames: ['direction'], registers, collect: function (this: Counter<'direction'>) { counted(this, 'messages') } })
    new Counter({ name: 'parley_sync_bytes_total', help: 'WebSocket frame bytes received (in) and sent (out).', labelNames: ['direction'], registers, collect: function (this: Counter<'direction'>) { counted(this, 'bytes') } })
    this.#eventsStored = new Counter({ name: 'parley_events_stored_total', help: 'Conversation events stored.', registers })
    this.#connectionsClosed = new Counter({
      name: 'parley_connections_closed_total',
      help: 'Closed WebSocket connections by close code (sent by the server, or the client closed with it); codes the server does not know count as "other".',
      labelNames: ['code'],
      registers,
    })
    this.#webhookRetries = new Counter({ name: 'parley_webhook_retries_total', help: 'Webhook deliveries retried after a failure.', registers })
    this.#webhookDeadLetters = new Counter({ name: 'parley_webhook_dead_letters_total', help: 'Webhook deliveries given up on.', registers })
    this.#deliveryLatency = new Histogram({
      name: 'parley_delivery_latency_seconds',
      help: 'From the server receiving a sync message with changes to sending that document to another peer, in seconds.',
      buckets: DELIVERY_BUCKETS,
      registers,
    })
    this.#storage = new Histogram({ name: 'parley_leveldb_operation_seconds', help: 'LevelDB storage operations by operation, in seconds.', labelNames: ['op'], buckets: STORAGE_BUCKETS, registers })
    this.#storageWriteFailures = new Counter({ name: 'parley_storage_write_failures_total', help: 'Times document storage stopped taking writes (disk full, I/O error); writes are held until it recovers.', registers })
    this.#storageCorruptValues = new Counter({ name: 'parley_storage_corrupt_values_total', help: 'Stored values that failed their checksum and were quarantined.', registers })
    this.#documentsEvicted = new Counter({ name: 'parley_documents_evicted_total', help: 'Idle documents saved and unloaded from memory.', registers })
    const storageStatus = options.storageStatus ?? (() => ({ writable: true, heldWrites: 0 }) as { writable: boolean; heldWrites: number; freeBytes?: number })
    new Gauge({
      name: 'parley_storage_writable',
      help: '1 while document storage takes writes, 0 while writes are held in memory (the server is not ready).',
      registers,
      collect() {
        this.set(storageStatus().writable ? 1 : 0)
      },
    })
    new Gauge({
      name: 'parley_storage_free_bytes',
      help: 'Bytes available under the data directory at the last check.',
      registers,
      collect() {
        const free = storageStatus().freeBytes
        if (free !== undefined && Number.isFinite(free)) this.set(free)
      },
    })
    new Gauge({
      name: 'parley_storage_held_writes',
      help: 'Storage writes held in memory until the disk takes them again.',
      registers,
      collect() {
        this.set(storageStatus().heldWrites)
      },
    })
    this.#loopDelay.enable()
  }

  get contentType(): string {
    return this.register.contentType
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.register.metrics()
  }

  /** Stops the event loop monitor. */
  close(): void {
    this.#loopDelay.disable()
  }

  connectionOpened(user: string): void {
    this.#connections.inc()
    this.#users.set(user, (this.#users.get(user) ?? 0) + 1)
    this.#authenticatedUsers.set(this.#users.size)
  }

  connectionClosed(user: string, code: number): void {
    this.#connections.dec()
    this.#connectionsClosed.labels(closeCodeLabel(code)).inc()
    const open = (this.#users.get(user) ?? 0) - 1
    if (open > 0) this.#users.set(user, open)
    else this.#users.delete(user)
    this.#authenticatedUsers.set(this.#users.size)
  }

  messageIn(bytes: number): void {
    this.#frames.in.messages++
    this.#frames.in.bytes += bytes
  }

  messageOut(bytes: number): void {
    this.#frames.out.messages++
    this.#frames.out.bytes += bytes
  }

  deliveryLatency(seconds: number): void {
    this.#deliveryLatency.observe(seconds)
  }

  eventsStored(count = 1): void {
    this.#eventsStored.inc(count)
  }

  longPollStarted(): void {
    this.#longPollsWaiting.inc()
  }

  longPollEnded(): void {
    this.#longPollsWaiting.dec()
  }

  webhookQueueDepth(depth: number): void {
    this.#webhookQueueDepth.set(depth)
  }

  webhookRetried(): void {
    this.#webhookRetries.inc()
  }

  webhookDeadLettered(): void {
    this.#webhookDeadLetters.inc()
  }

  storageWriteFailed(): void {
    this.#storageWriteFailures.inc()
  }

  storageCorruptValue(): void {
    this.#storageCorruptValues.inc()
  }

  documentEvicted(): void {
    this.#documentsEvicted.inc()
  }

  /** Times a storage operation (`load`, `save` …), whether it resolves or rejects; returns it unchanged. */
  timeStorage<T>(op: string, operation: Promise<T>): Promise<T> {
    const end = this.#storage.startTimer({ op })
    return operation.finally(() => end())
  }
}
