/**
 * Where `--publish-events` sends events (outbound.ts): a durable topic exchange
 * `<name>.events` on RabbitMQ (routing key: the conversation ID), or a JetStream stream
 * `<name>-events` on the subjects `<name>-events.<conversation ID>`. Each message is
 * `{"conversationId", "seq", "event"}` as JSON, with the ID `<conversationId>:<seq>`
 * (AMQP `message-id`; NATS `Nats-Msg-Id`, which JetStream deduplicates within its window).
 */
import { connect as amqpConnect, type ChannelModel, type ConfirmChannel, type RecoveringChannelModel } from 'amqplib'
import type { FastifyBaseLogger } from 'fastify'
import { connect as natsConnect, type NatsConnection } from 'nats'
import type { EventSink, PublishedEvent } from './outbound.ts'

/** AMQP priorities 0–9 for the event's priority. */
const AMQP_PRIORITY = { high: 9, normal: 4, low: 0 } as const

const body = (item: PublishedEvent): Buffer => Buffer.from(JSON.stringify(item))
const messageId = (item: PublishedEvent): string => `${item.conversationId}:${item.seq}`

export class AmqpEventSink implements EventSink {
  readonly broker = 'amqp' as const
  readonly #exchange: string
  readonly #connection: Promise<RecoveringChannelModel>
  #channel: ConfirmChannel | undefined

  constructor(url: string, name: string, log: FastifyBaseLogger) {
    this.#exchange = `${name}.events`
    this.#connection = amqpConnect(url, {
      recovery: {
        initialDelay: 500,
        maxDelay: 30_000,
        maxRetries: Infinity,
        waitForConnect: false,
        setup: async (model: ChannelModel) => {
          const channel = await model.createConfirmChannel()
          channel.on('error', error => log.warn({ err: error }, 'publish events: RabbitMQ channel closed by the broker'))
          channel.on('close', () => this.#channel === channel && (this.#channel = undefined))
          await channel.assertExchange(this.#exchange, 'topic', { durable: true })
          this.#channel = channel
        },
      },
    })
    this.#connection.then(
      connection => {
        connection.on('error', error => log.warn({ err: error }, 'publish events: RabbitMQ connection error'))
        connection.on('disconnect', () => (this.#channel = undefined))
      },
      error => log.error({ err: error }, 'publish events: cannot use the RabbitMQ URL; events are not published'),
    )
  }

  publish(item: PublishedEvent): Promise<void> {
    const channel = this.#channel
    if (!channel) return Promise.reject(new Error('not connected to RabbitMQ'))
    const priority = item.event.type === 'message' ? AMQP_PRIORITY[item.event.priority ?? 'normal'] : AMQP_PRIORITY.normal
    return new Promise((resolve, reject) => {
      try {
        channel.publish(this.#exchange, item.conversationId, body(item), { persistent: true, contentType: 'application/json', messageId: messageId(item), type: item.event.type, priority }, error =>
          error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(),
        )
      } catch (error) {
        reject(error)
      }
    })
  }

  async close(): Promise<void> {
    const connection = await this.#connection.catch(() => undefined)
    await connection?.close().catch(() => undefined)
  }
}

export class NatsEventSink implements EventSink {
  readonly broker = 'nats' as const
  readonly #url: string
  readonly #stream: string
  #connection: Promise<NatsConnection> | undefined
  #streamReady = false

  constructor(url: string, name: string) {
    this.#url = url
    this.#stream = `${name}-events`
  }

  async publish(item: PublishedEvent): Promise<void> {
    const connection = await this.#connect()
    if (!this.#streamReady) {
      const manager = await connection.jetstreamManager()
      await manager.streams.info(this.#stream).catch(async error => {
        if ((error as { code?: string }).code !== '404' && (error as { api_error?: { code?: number } }).api_error?.code !== 404) throw error
        await manager.streams.add({ name: this.#stream, subjects: [`${this.#stream}.>`] })
      })
      this.#streamReady = true
    }
    await connection.jetstream().publish(`${this.#stream}.${item.conversationId}`, body(item), { msgID: messageId(item) })
  }

  /** Connected once, then kept by the client (it reconnects by itself); a failed first attempt is tried again at the next publish. */
  #connect(): Promise<NatsConnection> {
    this.#connection ??= natsConnect({ servers: this.#url, name: 'parley-server events', maxReconnectAttempts: -1, reconnectTimeWait: 1000 }).catch(error => {
      this.#connection = undefined
      throw error
    })
    return this.#connection
  }

  async close(): Promise<void> {
    const connection = await this.#connection?.catch(() => undefined)
    await connection?.close().catch(() => undefined)
  }
}
