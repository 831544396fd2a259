/**
 * `--publish-events URL`: every event this node numbers (events/event-index.ts
 * 'numbered': each event is numbered by exactly one node of a cluster) is published to a
 * RabbitMQ exchange or a NATS JetStream stream, an alternative to webhooks for systems
 * that read a broker (docs/ingest.md "Publishing events").
 *
 * One sender, in numbering order; a failed publish is retried (full-jitter backoff) before
 * anything after it, so order holds within a conversation. The queue is in memory and
 * bounded: past `maxQueued` the oldest are dropped and counted, and events numbered while
 * the server was down or lost in a crash are not published. Each message carries the
 * conversation's `seq`: a reader that sees a gap reads it from GET …/events.
 */
import type { FastifyBaseLogger } from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { SequencedEvent } from '../events/event-index.ts'

export interface PublishedEvent {
  readonly conversationId: string
  readonly seq: number
  readonly event: SequencedEvent['event']
}

/** A broker's side of publishing (outbound-sinks.ts). */
export interface EventSink {
  readonly broker: 'amqp' | 'nats'
  /** Resolves once the broker has taken the message (a publisher confirm, a JetStream ack). */
  publish(item: PublishedEvent): Promise<void>
  close(): Promise<void>
}

export interface EventPublisherOptions {
  readonly sink: EventSink
  readonly register: Registry
  readonly log: FastifyBaseLogger
  /** Events held while the broker cannot take them; beyond, the oldest are dropped (default 10,000). */
  readonly maxQueued?: number
  /** Backoff before a retry: from this (ms), doubling, up to `maxRetryMs`. */
  readonly minRetryMs?: number
  readonly maxRetryMs?: number
}

const DEFAULT_MAX_QUEUED = 10_000
/** How long close() keeps sending what is queued, while the broker takes it. */
const DRAIN_ON_CLOSE_MS = 5000

export class EventPublisher {
  readonly #options: EventPublisherOptions
  readonly #queue: PublishedEvent[] = []
  readonly #stopping = new AbortController()
  readonly #published: Counter
  readonly #dropped: Counter
  readonly #retried: Counter
  #sending: Promise<void> | undefined
  #failures = 0

  constructor(options: EventPublisherOptions) {
    this.#options = options
    const registers = [options.register]
    const labels = { broker: options.sink.broker }
    this.#published = new Counter({ name: 'parley_events_published_total', help: 'Events published to the broker (--publish-events) and confirmed by it.', labelNames: ['broker'], registers })
    this.#dropped = new Counter({ name: 'parley_events_publish_dropped_total', help: 'Events dropped unpublished: the queue was full while the broker did not take them.', labelNames: ['broker'], registers })
    this.#retried = new Counter({ name: 'parley_events_publish_retries_total', help: 'Publishes to the broker that failed and were tried again.', labelNames: ['broker'], registers })
    const queue = this.#queue
    new Gauge({ name: 'parley_events_publish_queue', help: 'Events waiting to be published to the broker.', labelNames: ['broker'], registers, collect() { this.set(labels, queue.length) } })
    this.#published.inc(labels, 0)
    this.#dropped.inc(labels, 0)
  }

  /** Queues events numbered here, in their order; never waits. */
  enqueue(conversationId: string, events: readonly SequencedEvent[]): void {
    if (this.#stopping.signal.aborted) return
    const max = this.#options.maxQueued ?? DEFAULT_MAX_QUEUED
    for (const { seq, event } of events) this.#queue.push({ conversationId, seq, event })
    const excess = this.#queue.length - max
    if (excess > 0) {
      this.#queue.splice(0, excess)
      this.#dropped.inc({ broker: this.#options.sink.broker }, excess)
      this.#options.log.warn({ dropped: excess }, 'publish events: queue full while the broker does not take events; dropped the oldest')
    }
    this.#sending ??= this.#send().finally(() => (this.#sending = undefined))
  }

  /** Sends what is queued for a few seconds at most, then stops. */
  async close(): Promise<void> {
    const drained = this.#sending ?? Promise.resolve()
    await Promise.race([drained, sleep(DRAIN_ON_CLOSE_MS, undefined, { ref: false })])
    this.#stopping.abort()
    await this.#sending
    if (this.#queue.length > 0) this.#options.log.warn({ unpublished: this.#queue.length }, 'publish events: closing with events not published')
    await this.#options.sink.close()
  }

  async #send(): Promise<void> {
    const { sink, log } = this.#options
    const labels = { broker: sink.broker }
    while (this.#queue.length > 0 && !this.#stopping.signal.aborted) {
      const item = this.#queue[0]!
      try {
        await sink.publish(item)
        // Unless dropped meanwhile (the queue overflowed while this publish waited).
        if (this.#queue[0] === item) this.#queue.shift()
        this.#published.inc(labels)
        this.#failures = 0
      } catch (error) {
        const { minRetryMs = 200, maxRetryMs = 30_000 } = this.#options
        const delayMs = Math.round(Math.random() * Math.min(maxRetryMs, minRetryMs * 2 ** Math.min(this.#failures++, 20)))
        this.#retried.inc(labels)
        log.warn({ err: error, delayMs, queued: this.#queue.length }, 'publish events: the broker did not take an event; retrying')
        await sleep(delayMs, undefined, { signal: this.#stopping.signal, ref: false }).catch(() => undefined)
      }
    }
  }
}
