/**
 * Ingest from NATS JetStream (the official `nats` client): a stream `<name>` on the
 * subjects `<name>.>`, a durable pull consumer `<name>` with explicit acknowledgement,
 * and a dead-letter stream `<name>-dead` on `<name>-dead.<reason>` (docs/ingest.md).
 * Streams and the consumer are created when missing, and used as they are otherwise
 * (their limits, the consumer's ack wait and max ack pending, are the operator's).
 *
 * A message is acknowledged (and the server's receipt awaited) only once its event is
 * stored, or once its dead letter is stored in the dead-letter stream; a retry is
 * nak'd. One not acknowledged (the server crashed) is redelivered after the consumer's
 * ack wait; the idempotency key makes its second pass harmless.
 */
import { AckPolicy, connect, DeliverPolicy, Events, headers as natsHeaders, nanos, type ConsumerMessages, type JsMsg, type NatsConnection } from 'nats'
import { setTimeout as sleep } from 'node:timers/promises'
import type { IngestConsumer, IngestRun } from './consumer.ts'

/** How long the consumer the server creates waits for an acknowledgement before redelivering. */
const ACK_WAIT_MS = 60_000
/** Before consuming again after the consumer failed (a stream deleted, a timeout). */
const RESUME_MS = 1000
/** Between attempts at the first connection: doubling from this (ms) up to the next. */
const CONNECT_MIN_MS = 500
const CONNECT_MAX_MS = 30_000

export class NatsIngest implements IngestConsumer {
  readonly broker = 'nats' as const
  readonly #run: IngestRun
  readonly #stream: string
  readonly #deadStream: string
  #connection: NatsConnection | undefined
  #messages: ConsumerMessages | undefined
  #inFlight = 0
  #slotFree: (() => void) | undefined
  #consuming: Promise<void> | undefined

  constructor(run: IngestRun) {
    this.#run = run
    this.#stream = run.name
    this.#deadStream = `${run.name}-dead`
  }

  async start(): Promise<void> {
    // Never refused for the broker being away: the client keeps trying, first connection included.
    this.#consuming = this.#connectAndConsume()
  }

  async lag(): Promise<number | undefined> {
    const connection = this.#connection
    if (!connection || connection.isClosed()) return undefined
    const consumer = await connection.jetstream().consumers.get(this.#stream, this.#stream)
    return (await consumer.info()).num_pending
  }

  async close(): Promise<void> {
    this.#run.stopping.abort()
    this.#slotFree?.()
    await this.#messages?.close()?.catch(() => undefined)
    await this.#connection?.close().catch(() => undefined)
    await this.#consuming
    this.#run.metrics.connected(false)
  }

  /** The first connection, tried until it succeeds (or the server closes); after it, the client reconnects by itself. */
  async #connect(): Promise<NatsConnection | undefined> {
    const { log, stopping } = this.#run
    for (let attempt = 0; !stopping.signal.aborted; attempt++) {
      try {
        const connection = await connect({ servers: this.#run.url, name: 'parley-server ingest', maxReconnectAttempts: -1, reconnectTimeWait: 1000 })
        if (!stopping.signal.aborted) return connection
        await connection.close()
        return undefined
      } catch (error) {
        const delayMs = Math.min(CONNECT_MAX_MS, CONNECT_MIN_MS * 2 ** Math.min(attempt, 10))
        log.warn({ err: error, broker: this.#run.where, delayMs }, 'ingest: cannot reach NATS; retrying')
        await sleep(delayMs, undefined, { signal: stopping.signal, ref: false }).catch(() => undefined)
      }
    }
    return undefined
  }

  async #connectAndConsume(): Promise<void> {
    const { log, stopping } = this.#run
    const connection = await this.#connect()
    if (connection === undefined) return
    this.#connection = connection
    void this.#followStatus(connection).catch(error => log.warn({ err: error }, 'ingest: NATS status stream ended'))
    while (!stopping.signal.aborted && !connection.isClosed()) {
      try {
        await this.#consume(connection)
      } catch (error) {
        if (stopping.signal.aborted) break
        this.#run.metrics.connected(false)
        log.warn({ err: error, broker: this.#run.where, stream: this.#stream }, 'ingest: NATS consumer stopped; starting it again')
      }
      await sleep(RESUME_MS, undefined, { signal: stopping.signal, ref: false }).catch(() => undefined)
    }
    // Closed while connecting or consuming: close() may have found no connection yet.
    await connection.close().catch(() => undefined)
  }

  async #followStatus(connection: NatsConnection): Promise<void> {
    for await (const status of connection.status()) {
      if (status.type === Events.Disconnect) this.#run.metrics.connected(false)
      if (status.type === Events.Reconnect) this.#run.metrics.connected(true)
      if (status.type === Events.Disconnect || status.type === Events.Reconnect) this.#run.log.warn({ status: status.type, broker: this.#run.where }, `ingest: NATS ${status.type}`)
    }
  }

  async #consume(connection: NatsConnection): Promise<void> {
    const manager = await connection.jetstreamManager()
    await this.#ensureStream(manager, this.#stream)
    await this.#ensureStream(manager, this.#deadStream)
    await manager.consumers.info(this.#stream, this.#stream).catch(async error => {
      if (!isNotFound(error)) throw error
      await manager.consumers.add(this.#stream, {
        durable_name: this.#stream,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(ACK_WAIT_MS),
        max_ack_pending: this.#run.prefetch,
      })
    })
    const js = connection.jetstream()
    const consumer = await js.consumers.get(this.#stream, this.#stream)
    const messages = await consumer.consume({ max_messages: this.#run.prefetch })
    this.#messages = messages
    this.#run.metrics.connected(true)
    this.#run.log.info({ broker: this.#run.where, stream: this.#stream }, 'ingest: consuming from NATS JetStream')
    for await (const message of messages) {
      this.#deliver(connection, message)
      // At most `prefetch` messages in our hands, whatever the consumer's max ack pending.
      while (this.#inFlight >= this.#run.prefetch && !this.#run.stopping.signal.aborted) await new Promise<void>(resolve => (this.#slotFree = resolve))
      if (this.#run.stopping.signal.aborted) break
    }
  }

  async #ensureStream(manager: Awaited<ReturnType<NatsConnection['jetstreamManager']>>, name: string): Promise<void> {
    await manager.streams.info(name).catch(async error => {
      if (!isNotFound(error)) throw error
      await manager.streams.add({ name, subjects: [`${name}.>`] })
    })
  }

  #deliver(connection: NatsConnection, message: JsMsg): void {
    this.#inFlight++
    const brokerId = message.headers?.get('Nats-Msg-Id') || undefined
    void this.#run
      .handle(message.data, brokerId, {
        ack: async () => void (await message.ackAck()),
        retry: async () => message.nak(),
        deadLetter: async (reason, detail) => {
          const headers = natsHeaders()
          for (const [key, values] of message.headers ?? []) for (const value of values) headers.append(key, value)
          // The dead letter is a new message: a Nats-Msg-Id kept would be dropped as a duplicate within the window.
          headers.delete('Nats-Msg-Id')
          headers.set('Parley-Reason', reason)
          headers.set('Parley-Detail', detail.replace(/[\r\n]+/g, ' '))
          headers.set('Parley-Source', `${this.#stream} ${message.seq} ${message.subject}`)
          await connection.jetstream().publish(`${this.#deadStream}.${reason}`, message.data, { headers })
        },
      })
      .finally(() => {
        this.#inFlight--
        const free = this.#slotFree
        this.#slotFree = undefined
        free?.()
      })
  }
}

function isNotFound(error: unknown): boolean {
  const { code, api_error } = error as { code?: string; api_error?: { code?: number } }
  return code === '404' || api_error?.code === 404
}
