/**
 * Ingest from RabbitMQ (AMQP 0-9-1, through amqplib with its automatic recovery): one
 * durable priority queue, consumed with manual acknowledgement and a bounded prefetch,
 * and a dead-letter exchange with a queue bound to it (docs/ingest.md).
 *
 * A delivery is acknowledged only once its event is stored (processor.ts), or once its
 * dead letter is confirmed by the broker (a confirm channel); a retry is nacked back to
 * the queue after a backoff. A connection or channel lost with deliveries unacknowledged
 * gives them back to the queue: the idempotency key makes their second pass harmless.
 */
import { connect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage, type RecoveringChannelModel } from 'amqplib'
import type { FastifyBaseLogger } from 'fastify'
import type { IngestConsumer, IngestRun } from './consumer.ts'

/** Priorities 0–9 as the broker sees them (RabbitMQ's advice: a handful of levels, at most 255). */
export const AMQP_MAX_PRIORITY = 9

export class AmqpIngest implements IngestConsumer {
  readonly broker = 'amqp' as const
  readonly #run: IngestRun
  readonly #log: FastifyBaseLogger
  readonly #queue: string
  readonly #deadExchange: string
  #connection: RecoveringChannelModel | undefined
  /** The current connection's plain channel, for the queue depth (a failed check closes it, not the consumer's). */
  #inspect: Channel | undefined

  constructor(run: IngestRun) {
    this.#run = run
    this.#log = run.log
    this.#queue = run.name
    this.#deadExchange = `${run.name}.dead`
  }

  async start(): Promise<void> {
    const connection = await connect(this.#run.url, {
      recovery: {
        initialDelay: 500,
        maxDelay: 30_000,
        maxRetries: Infinity,
        waitForConnect: false,
        setup: async (model: ChannelModel) => this.#setup(model),
      },
    })
    this.#connection = connection
    connection.on('error', error => this.#log.warn({ err: error }, 'ingest: RabbitMQ connection error'))
    connection.on('handler-error', error => this.#log.error({ err: error }, 'ingest: error in a RabbitMQ event handler'))
    connection.on('connect', () => this.#log.info({ broker: this.#run.where, queue: this.#queue }, 'ingest: consuming from RabbitMQ'))
    connection.on('disconnect', error => {
      this.#run.metrics.connected(false)
      this.#log.warn({ err: error, broker: this.#run.where }, 'ingest: RabbitMQ connection lost; reconnecting (unacknowledged messages go back to the queue)')
    })
    connection.on('reconnect-scheduled', ({ attempt, delay, error }) => this.#log.warn({ attempt, delayMs: delay, err: error, broker: this.#run.where }, 'ingest: cannot reach RabbitMQ; retrying'))
  }

  async lag(): Promise<number | undefined> {
    const inspect = this.#inspect
    if (!inspect) return undefined
    return (await inspect.checkQueue(this.#queue)).messageCount
  }

  async close(): Promise<void> {
    this.#run.stopping.abort()
    await this.#connection?.close().catch(() => undefined)
    this.#run.metrics.connected(false)
  }

  async #setup(model: ChannelModel): Promise<void> {
    const channel = await model.createConfirmChannel()
    channel.on('error', error => this.#log.warn({ err: error }, 'ingest: RabbitMQ channel closed by the broker'))
    // A queue declared earlier with other arguments is refused (PRECONDITION_FAILED): the message says which.
    await channel.assertQueue(this.#queue, { durable: true, arguments: { 'x-max-priority': AMQP_MAX_PRIORITY } })
    await channel.assertExchange(this.#deadExchange, 'fanout', { durable: true })
    await channel.assertQueue(this.#deadExchange, { durable: true })
    await channel.bindQueue(this.#deadExchange, this.#deadExchange, '')
    await channel.prefetch(this.#run.prefetch)
    const inspect = await model.createChannel()
    inspect.on('error', () => undefined)
    this.#inspect = inspect
    await channel.consume(this.#queue, message => this.#deliver(channel, message), { noAck: false })
    this.#run.metrics.connected(true)
  }

  #deliver(channel: ConfirmChannel, message: ConsumeMessage | null): void {
    // null: the broker cancelled the consumer (the queue was deleted).
    if (message === null) {
      this.#log.error({ queue: this.#queue }, 'ingest: RabbitMQ cancelled the consumer (was the queue deleted?); it is declared again on the next connection')
      return
    }
    const brokerId = typeof message.properties.messageId === 'string' ? message.properties.messageId : undefined
    void this.#run.handle(message.content, brokerId, {
      ack: async () => channel.ack(message),
      retry: async () => channel.nack(message, false, true),
      deadLetter: (reason, detail) =>
        new Promise<void>((resolve, reject) => {
          const headers = { ...message.properties.headers, 'x-parley-reason': reason, 'x-parley-detail': detail, 'x-parley-queue': this.#queue }
          channel.publish(this.#deadExchange, '', message.content, { ...definedProperties(message), headers, persistent: true }, error => (error ? reject(error) : resolve()))
        }),
    })
  }
}

/** The original message's properties worth keeping on its dead letter. */
function definedProperties(message: ConsumeMessage): Record<string, unknown> {
  const { contentType, contentEncoding, messageId, correlationId, timestamp, appId, priority } = message.properties
  return Object.fromEntries(Object.entries({ contentType, contentEncoding, messageId, correlationId, timestamp, appId, priority }).filter(([, value]) => value !== undefined))
}
