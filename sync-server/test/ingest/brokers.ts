/**
 * The brokers ingest tests run against: the machine's RabbitMQ (127.0.0.1:5672,
 * guest/guest) and NATS JetStream (127.0.0.1:4222), started by scripts/test-prerequisites.sh.
 * Each test gets a vhost (RabbitMQ) or a stream name (NATS) of its own and removes it.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { connect as amqpConnect, type ChannelModel } from 'amqplib'
import { connect as natsConnect, type JsMsg, type NatsConnection } from 'nats'
import { AMQP_MAX_PRIORITY } from '../../src/ingest/amqp.ts'

const run = promisify(execFile)
const RABBITMQCTL = process.env.PARLEY_RABBITMQCTL ?? 'rabbitmqctl'
export const NATS_URL = process.env.PARLEY_TEST_NATS ?? 'nats://127.0.0.1:4222'
const RABBIT = process.env.PARLEY_TEST_RABBITMQ ?? '127.0.0.1:5672'

export const uniqueName = (prefix: string): string => `${prefix}-${randomBytes(5).toString('hex')}`

/** A fresh vhost guest may use, and the ingest URL into it; `remove` deletes it with everything in it. */
export async function rabbitVhost(): Promise<{ url: string; vhost: string; remove(): Promise<void> }> {
  const vhost = uniqueName('parley-test')
  await run(RABBITMQCTL, ['add_vhost', vhost])
  await run(RABBITMQCTL, ['set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*'])
  return {
    vhost,
    url: `amqp://guest:guest@${RABBIT}/${vhost}`,
    remove: async () => void (await run(RABBITMQCTL, ['delete_vhost', vhost])),
  }
}

/** A producer on a vhost: declares the ingest queue as the server does, publishes, reads the dead letters. */
export async function rabbitProducer(url: string, queue: string) {
  const connection: ChannelModel = await amqpConnect(url)
  connection.on('error', () => undefined)
  const channel = await connection.createConfirmChannel()
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-max-priority': AMQP_MAX_PRIORITY } })
  return {
    async send(body: unknown, options: { priority?: number; messageId?: string } = {}): Promise<void> {
      const content = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body))
      channel.sendToQueue(queue, content, { persistent: true, ...options })
      await channel.waitForConfirms()
    },
    /** Ready messages in a queue (not counting those delivered and unacknowledged). */
    async depth(name = queue): Promise<number> {
      return (await channel.checkQueue(name)).messageCount
    },
    /** Every dead letter so far: its body and the reason headers. */
    async deadLetters(): Promise<{ body: string; reason: string; detail: string }[]> {
      const letters = []
      for (;;) {
        const message = await channel.get(`${queue}.dead`, { noAck: true })
        if (message === false) return letters
        const headers = message.properties.headers ?? {}
        letters.push({ body: message.content.toString(), reason: String(headers['x-parley-reason']), detail: String(headers['x-parley-detail']) })
      }
    },
    close: () => connection.close().catch(() => undefined),
  }
}

/** A NATS connection for a test stream `name`: publishes to it, reads its dead letters, deletes both streams at the end. */
export async function natsProducer(name: string) {
  const connection: NatsConnection = await natsConnect({ servers: NATS_URL })
  const js = connection.jetstream()
  const manager = await connection.jetstreamManager()
  return {
    connection,
    manager,
    async send(body: unknown, subject = `${name}.messages`, headers?: Record<string, string>): Promise<void> {
      const data = body instanceof Uint8Array ? body : new TextEncoder().encode(JSON.stringify(body))
      const { headers: makeHeaders } = await import('nats')
      const h = makeHeaders()
      for (const [key, value] of Object.entries(headers ?? {})) h.set(key, value)
      await js.publish(subject, data, { headers: h })
    },
    /** The dead letters in `<name>-dead`, oldest first. */
    async deadLetters(count: number): Promise<{ body: string; reason: string; detail: string; subject: string }[]> {
      const consumer = await js.consumers.get(`${name}-dead`)
      const letters = []
      for (let i = 0; i < count; i++) {
        const message: JsMsg | null = await consumer.next({ expires: 5000 })
        if (message === null) break
        letters.push({ body: new TextDecoder().decode(message.data), reason: message.headers?.get('Parley-Reason') ?? '', detail: message.headers?.get('Parley-Detail') ?? '', subject: message.subject })
      }
      return letters
    },
    async close(): Promise<void> {
      for (const stream of [name, `${name}-dead`]) await manager.streams.delete(stream).catch(() => undefined)
      await connection.close()
    },
  }
}
