/**
 * What the two broker adapters share: carrying out a message's outcome (processor.ts)
 * with the broker's own acknowledgement calls, the backoff before a retry, the metrics
 * and the log lines.
 */
import type { FastifyBaseLogger } from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import type { DeadReason } from './message.ts'
import type { IngestMetrics } from './metrics.ts'
import type { IngestProcessor, Outcome } from './processor.ts'

export interface IngestConsumer {
  readonly broker: 'amqp' | 'nats'
  /** Connects (retrying in the background while the broker cannot be reached) and starts consuming. */
  start(): Promise<void>
  /** Messages waiting for this consumer, undefined while unknown. */
  lag(): Promise<number | undefined>
  /** Stops consuming; deliveries not yet acknowledged go back to the broker. */
  close(): Promise<void>
}

/** One delivery's acknowledgement calls, in the broker's terms. */
export interface DeliveryActions {
  ack(): Promise<void>
  /** Back to the broker for redelivery. */
  retry(): Promise<void>
  /** Resolves once the broker has taken the dead letter. */
  deadLetter(reason: DeadReason, detail: string): Promise<void>
}

/** Dead-letter details are cut to this many characters (a header, and a log line). */
const MAX_DETAIL = 500
/** Before a retry: full jitter, doubling from this (ms) … */
const RETRY_MIN_MS = 200
/** … up to this, reset by the next message stored. */
const RETRY_MAX_MS = 30_000

export interface IngestRunOptions {
  readonly url: string
  /** The broker's address with no credential: for log lines. */
  readonly where: string
  /** The queue (RabbitMQ) or stream (NATS) name; dead letters go to `<name>.dead` / `<name>-dead`. */
  readonly name: string
  readonly prefetch: number
  readonly processor: IngestProcessor
  readonly metrics: IngestMetrics
  readonly log: FastifyBaseLogger
  /**
   * `hold-ack`: a stored message is never acknowledged, and a line says so: the crash
   * test (test/ingest) kills the server there, between the store and the ack.
   */
  readonly failpoint?: 'hold-ack'
}

export class IngestRun {
  readonly url: string
  readonly where: string
  readonly name: string
  readonly prefetch: number
  readonly metrics: IngestMetrics
  readonly log: FastifyBaseLogger
  /** Aborted on close: waits before a retry end at once. */
  readonly stopping = new AbortController()
  readonly #options: IngestRunOptions
  #retries = 0

  constructor(options: IngestRunOptions) {
    this.#options = options
    ;({ url: this.url, where: this.where, name: this.name, prefetch: this.prefetch, metrics: this.metrics, log: this.log } = options)
  }

  /** Call in delivery order (the processor keeps that order within each conversation). Resolves once settled; never rejects. */
  handle(bytes: Uint8Array, brokerId: string | undefined, actions: DeliveryActions): Promise<void> {
    return this.#options.processor
      .process(bytes, brokerId)
      .then(outcome => this.#carryOut(outcome, actions))
      .catch(error => {
        if (this.stopping.signal.aborted) return
        this.log.warn({ err: error }, 'ingest: could not settle a message with the broker; it will be delivered again')
      })
  }

  async #carryOut(outcome: Outcome, actions: DeliveryActions): Promise<void> {
    switch (outcome.kind) {
      case 'stored':
        if (this.#options.failpoint === 'hold-ack') {
          this.log.warn({ eventId: outcome.eventId, seq: outcome.seq, conversationId: outcome.conversation }, 'ingest failpoint hold-ack: event stored, acknowledgement held')
          return
        }
        await actions.ack()
        this.#retries = 0
        this.metrics.consumed()
        return
      case 'dead': {
        const detail = outcome.detail.slice(0, MAX_DETAIL)
        this.log.warn({ reason: outcome.reason, detail, conversationId: outcome.conversation }, 'ingest: message can never be applied; dead-lettered')
        await actions.deadLetter(outcome.reason, detail)
        await actions.ack()
        this.metrics.rejected(outcome.reason)
        return
      }
      case 'retry': {
        const delayMs = Math.round(Math.random() * Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(this.#retries++, 20)))
        this.log.warn({ err: outcome.error, detail: outcome.detail, delayMs }, 'ingest: cannot apply the message now; handing it back to the broker')
        await sleep(delayMs, undefined, { signal: this.stopping.signal, ref: false })
        await actions.retry()
        this.metrics.retried()
        return
      }
    }
  }
}
