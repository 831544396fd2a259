/**
 * `--ingest URL`: the consumer for the URL's scheme (amqp:// or amqps:// for RabbitMQ,
 * nats:// or tls:// for NATS JetStream), its processor and its metrics; `--publish-events
 * URL`: the publisher of numbered events (docs/ingest.md).
 */
import type { Limits } from '@parley/core'
import type { FastifyBaseLogger } from 'fastify'
import type { Registry } from 'prom-client'
import { AmqpIngest } from './amqp.ts'
import { IngestRun, type IngestConsumer } from './consumer.ts'
import { ingestMetrics } from './metrics.ts'
import { NatsIngest } from './nats.ts'
import { EventPublisher } from './outbound.ts'
import { AmqpEventSink, NatsEventSink } from './outbound-sinks.ts'
import { IngestProcessor, type IngestTarget } from './processor.ts'

export interface IngestOptions {
  readonly url: string
  readonly name: string
  readonly prefetch: number
  readonly systemUser: string
  readonly limits: Pick<Limits, 'maxTextBytes'>
  readonly target: IngestTarget
  readonly register: Registry
  readonly log: FastifyBaseLogger
}

/** The broker a URL names, or undefined for a scheme ingest does not speak (config.ts refuses those). */
export function ingestBroker(url: string): 'amqp' | 'nats' | undefined {
  if (/^amqps?:\/\//i.test(url)) return 'amqp'
  if (/^(nats|tls):\/\//i.test(url)) return 'nats'
  return undefined
}

/**
 * Bytes a message may have: the largest text, each character escaped in JSON as `\u00XX`
 * (six bytes), and room for the other fields. Checked before `JSON.parse`.
 */
export function maxIngestBytes(limits: Pick<Limits, 'maxTextBytes'>): number {
  return 6 * limits.maxTextBytes + 4096
}

/** The URL with its password replaced: for log lines, which never carry a credential. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(unparseable URL)'
  }
}

export function openIngest(options: IngestOptions): IngestConsumer {
  const broker = ingestBroker(options.url)
  if (broker === undefined) throw new Error(`ingest URL must start with amqp://, amqps://, nats:// or tls://`)
  let consumer: IngestConsumer | undefined
  const metrics = ingestMetrics(options.register, broker, async () => consumer?.lag())
  const processor = new IngestProcessor({ target: options.target, maxBytes: maxIngestBytes(options.limits), systemUser: options.systemUser })
  const run = new IngestRun({
    url: options.url,
    where: redactUrl(options.url),
    name: options.name,
    prefetch: options.prefetch,
    processor,
    metrics,
    log: options.log,
    // Tests only (test/ingest/crash.test.ts): see consumer.ts.
    ...(process.env.PARLEY_INGEST_FAILPOINT === 'hold-ack' && { failpoint: 'hold-ack' as const }),
  })
  consumer = broker === 'amqp' ? new AmqpIngest(run) : new NatsIngest(run)
  return consumer
}

/** `--publish-events URL`: the publisher for the URL's scheme (outbound.ts). */
export function openEventPublisher(options: { url: string; name: string; register: Registry; log: FastifyBaseLogger }): EventPublisher {
  const broker = ingestBroker(options.url)
  if (broker === undefined) throw new Error('publish-events URL must start with amqp://, amqps://, nats:// or tls://')
  const sink = broker === 'amqp' ? new AmqpEventSink(options.url, options.name, options.log) : new NatsEventSink(options.url, options.name)
  return new EventPublisher({ sink, register: options.register, log: options.log })
}
