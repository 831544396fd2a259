/**
 * `--publish-events URL`: every numbered event is published to a RabbitMQ exchange or a
 * NATS JetStream stream, an alternative to webhooks for systems that read a broker
 * (docs/ingest.md "Publishing events").
 *
 * At least once: the events come from events/notifications.ts, which lists each event as
 * not done in the numbering's own write and takes it off once `publish` resolved (the
 * broker confirmed it). A node killed in between, an event dropped from the full queue or
 * still queued at close stays listed, and is published by the next node to look (or this
 * one restarted). So a reader may see an event twice (deduplicate on the message ID,
 * `conversation:seq`; JetStream does within its duplicate window) and, for an event
 * published again later, out of order: each message carries the conversation's `seq`.
 *
 * One sender, in the order handed over; a failed publish is retried (full-jitter backoff)
 * before anything after it, so order holds within a conversation while nothing fails. The
 * queue is in memory and bounded: past `maxQueued` the oldest are dropped (counted, and
 * published later from the list).
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

interface Queued extends PublishedEvent {
  /** Called once: with nothing when the broker took it, with an error when it was dropped. */
  readonly settle: (error?: Error) => void
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
  readonly #queue: Queued[] = []
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
    this.#dropped = new Counter({ name: 'parley_events_publish_dropped_total', help: 'Events dropped from the queue, full while the broker did not take them (published later, from the list of events not done).', labelNames: ['broker'], registers })
    this.#retried = new Counter({ name: 'parley_events_publish_retries_total', help: 'Publishes to the broker that failed and were tried again.', labelNames: ['broker'], registers })
    const queue = this.#queue
    new Gauge({ name: 'parley_events_publish_queue', help: 'Events waiting to be published to the broker.', labelNames: ['broker'], registers, collect() { this.set(labels, queue.length) } })
    this.#published.inc(labels, 0)
    this.#dropped.inc(labels, 0)
  }

  /**
   * Queues events, in their order; resolves once the broker took them all, rejects when one
   * was dropped (the queue overflowed, or the publisher closed first).
   */
  async publish(conversationId: string, events: readonly SequencedEvent[]): Promise<void> {
    const taken = events.map(({ seq, event }) => new Promise<void>((resolve, reject) => this.#push({ conversationId, seq, event, settle: error => (error ? reject(error) : resolve()) })))
    this.#trim()
    if (!this.#stopping.signal.aborted) this.#sending ??= this.#send().finally(() => (this.#sending = undefined))
    const results = await Promise.allSettled(taken)
    const failed = results.find(result => result.status === 'rejected')
    if (failed) throw failed.reason
  }

  /** `publish` without waiting for the broker. */
  enqueue(conversationId: string, events: readonly SequencedEvent[]): void {
    this.publish(conversationId, events).catch(() => undefined)
  }

  #push(item: Queued): void {
    if (this.#stopping.signal.aborted) return item.settle(new Error('publish events: closed before the broker took the event'))
    this.#queue.push(item)
  }

  /** Past `maxQueued`, drops the oldest. */
  #trim(): void {
    const excess = this.#queue.length - (this.#options.maxQueued ?? DEFAULT_MAX_QUEUED)
    if (excess <= 0) return
    const error = new Error('publish events: queue full while the broker does not take events')
    for (const item of this.#queue.splice(0, excess)) item.settle(error)
    this.#dropped.inc({ broker: this.#options.sink.broker }, excess)
    this.#options.log.warn({ dropped: excess }, 'publish events: queue full while the broker does not take events; dropped the oldest (published later)')
  }

  /** Sends what is queued for a few seconds at most, then stops. */
  async close(): Promise<void> {
    const drained = this.#sending ?? Promise.resolve()
    await Promise.race([drained, sleep(DRAIN_ON_CLOSE_MS, undefined, { ref: false })])
    this.#stopping.abort()
    await this.#sending
    if (this.#queue.length > 0) this.#options.log.warn({ unpublished: this.#queue.length }, 'publish events: closing with events not published (published after the next start)')
    const error = new Error('publish events: closed before the broker took the event')
    for (const item of this.#queue.splice(0)) item.settle(error)
    await this.#options.sink.close()
  }

  async #send(): Promise<void> {
    const { sink, log } = this.#options
    const labels = { broker: sink.broker }
    while (this.#queue.length > 0 && !this.#stopping.signal.aborted) {
      const item = this.#queue[0]!
      try {
        await sink.publish({ conversationId: item.conversationId, seq: item.seq, event: item.event })
        // Unless dropped meanwhile (the queue overflowed while this publish waited): taken all the same.
        if (this.#queue[0] === item) this.#queue.shift()
        item.settle()
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
