/**
 * Ingest's Prometheus metrics, on the server's registry (metrics/metrics.ts `register`).
 * Labels come from closed sets: the broker kind, the outcome and the dead-letter reason.
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { DeadReason } from './message.ts'

export interface IngestMetrics {
  /** A message stored as an event and acknowledged. */
  consumed(): void
  /** A message dead-lettered (and acknowledged on its source). */
  rejected(reason: DeadReason): void
  /** A message handed back to the broker for redelivery. */
  retried(): void
  connected(up: boolean): void
}

/** `lag` is asked at each scrape: messages waiting in the queue or stream for this consumer (undefined: unknown now). */
export function ingestMetrics(register: Registry, broker: 'amqp' | 'nats', lag: () => Promise<number | undefined>): IngestMetrics {
  const registers = [register]
  const labels = { broker }
  const consumed = new Counter({ name: 'parley_ingest_consumed_total', help: 'Broker messages stored as events and acknowledged (a redelivered duplicate counts again).', labelNames: ['broker'], registers })
  const rejected = new Counter({ name: 'parley_ingest_rejected_total', help: 'Broker messages that can never be applied, sent to the dead letters with the reason.', labelNames: ['broker', 'reason'], registers })
  const retried = new Counter({ name: 'parley_ingest_retried_total', help: 'Broker messages handed back for redelivery (storage or the server could not take them then).', labelNames: ['broker'], registers })
  const connected = new Gauge({ name: 'parley_ingest_connected', help: '1 while the ingest consumer is connected to its broker.', labelNames: ['broker'], registers })
  new Gauge({
    name: 'parley_ingest_lag_messages',
    help: 'Messages waiting for the ingest consumer: the queue depth (RabbitMQ) or the consumer pending count (NATS JetStream).',
    labelNames: ['broker'],
    registers,
    async collect() {
      const value = await lag().catch(() => undefined)
      if (value !== undefined) this.set(labels, value)
    },
  })
  connected.set(labels, 0)
  return {
    consumed: () => consumed.inc(labels),
    rejected: reason => rejected.inc({ broker, reason }),
    retried: () => retried.inc(labels),
    connected: up => connected.set(labels, up ? 1 : 0),
  }
}
