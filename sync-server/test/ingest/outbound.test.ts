/**
 * --publish-events (src/ingest/outbound.ts): every event the server numbers reaches the
 * broker once, in order within its conversation, with its seq; against the machine's
 * RabbitMQ (a vhost per test) and NATS (streams per test). Then the publisher alone, over
 * a sink that fails: retried in order, and bounded.
 */
import pino from 'pino'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { EventPublisher, type EventSink, type PublishedEvent } from '../../src/ingest/outbound.ts'
import { startTestServer } from '../../src/testing.ts'
import { NATS_URL, natsProducer, rabbitProducer, rabbitVhost, uniqueName } from './brokers.ts'
import { createConversation, messagesWhen } from './parley.ts'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
}, 60_000)

async function post(server: { httpUrl: string; token(user: string): Promise<string> }, user: string, conversation: string, text: string): Promise<void> {
  const response = await fetch(`${server.httpUrl}/v1/conversations/${conversation}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await server.token(user)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  })
  expect(response.status).toBe(201)
}

/** The published messages by conversation: [seq, type, text]. */
function byConversation(items: PublishedEvent[]): Map<string, [number, string, string | undefined][]> {
  const map = new Map<string, [number, string, string | undefined][]>()
  for (const { conversationId, seq, event } of items) map.set(conversationId, [...(map.get(conversationId) ?? []), [seq, event.type, event.type === 'message' ? event.text : undefined]])
  return map
}

describe('publishing events to a broker', { timeout: 60_000 }, () => {
  it('RabbitMQ: each numbered event on the topic exchange, routed by conversation, in order, once', async () => {
    const vhost = await rabbitVhost()
    cleanups.push(() => vhost.remove())
    const server = await startTestServer({ publishEvents: vhost.url, ingest: vhost.url })
    cleanups.push(() => server.close())
    const { connect } = await import('amqplib')
    const connection = await connect(vhost.url)
    cleanups.push(() => connection.close())
    const channel = await connection.createChannel()
    await channel.assertExchange('parley-ingest.events', 'topic', { durable: true })
    await channel.assertQueue('all-events', { durable: false })
    await channel.bindQueue('all-events', 'parley-ingest.events', '#')
    const received: (PublishedEvent & { messageId: string })[] = []
    await channel.consume('all-events', message => message && received.push({ ...JSON.parse(message.content.toString()), messageId: message.properties.messageId }), { noAck: true })

    const first = await createConversation(server, 'alice', ['bob'])
    const second = await createConversation(server, 'bob', ['alice'])
    await post(server, 'alice', first, 'one')
    await post(server, 'bob', second, 'two')
    await post(server, 'bob', first, 'three')
    // Ingested messages are numbered like any other, and so published too.
    const producer = await rabbitProducer(vhost.url, 'parley-ingest')
    cleanups.push(() => producer.close())
    await producer.send({ conversation: first, author: 'alice', text: 'four', idempotencyKey: 'k4' })
    await messagesWhen(server, 'alice', first, 3)
    while (received.filter(item => item.event.type === 'message').length < 4) await new Promise(resolve => setTimeout(resolve, 20))
    const published = byConversation(received)
    expect(published.get(first)!.filter(([, type]) => type === 'message').map(([, , text]) => text)).toEqual(['one', 'three', 'four'])
    expect(published.get(second)!.filter(([, type]) => type === 'message').map(([, , text]) => text)).toEqual(['two'])
    for (const [, items] of published) expect(items.map(([seq]) => seq)).toEqual(items.map((_, i) => i + 1))
    for (const item of received) expect(item.messageId).toBe(`${item.conversationId}:${item.seq}`)
  })

  it('NATS: each numbered event in the events stream, on a subject per conversation, with a message ID', async () => {
    const name = uniqueName('parley_pub')
    const nats = await natsProducer(name)
    cleanups.push(async () => {
      await nats.manager.streams.delete(`${name}-events`).catch(() => undefined)
      await nats.close()
    })
    const server = await startTestServer({ publishEvents: NATS_URL, ingestName: name })
    cleanups.push(() => server.close())
    const conversation = await createConversation(server, 'alice', ['bob'])
    await post(server, 'alice', conversation, 'one')
    await post(server, 'bob', conversation, 'two')
    // The publisher makes the stream as it sends its first event, after the answer above.
    await expect.poll(() => nats.manager.streams.info(`${name}-events`).then(() => true, () => false), { timeout: 10_000 }).toBe(true)
    const consumer = await nats.connection.jetstream().consumers.get(`${name}-events`)
    const received: PublishedEvent[] = []
    const ids: string[] = []
    while (received.filter(item => item.event.type === 'message').length < 2) {
      const message = await consumer.next({ expires: 5000 })
      if (!message) continue
      expect(message.subject).toBe(`${name}-events.${conversation}`)
      ids.push(message.headers?.get('Nats-Msg-Id') ?? '')
      received.push(JSON.parse(new TextDecoder().decode(message.data)))
    }
    expect(received.filter(item => item.event.type === 'message').map(item => item.event.type === 'message' && item.event.text)).toEqual(['one', 'two'])
    expect(received.map(item => item.seq)).toEqual(received.map((_, i) => i + 1))
    expect(ids).toEqual(received.map(item => `${conversation}:${item.seq}`))
  })

  it('retries a publish the broker refused before any later one, and drops the oldest beyond its bound', async () => {
    const taken: number[] = []
    let failures = 2
    const sink: EventSink = {
      broker: 'amqp',
      async publish(item) {
        if (failures-- > 0) throw new Error('broker away')
        taken.push(item.seq)
      },
      close: async () => undefined,
    }
    const register = new Registry()
    const publisher = new EventPublisher({ sink, register, log: pino({ level: 'silent' }), maxQueued: 3, minRetryMs: 1, maxRetryMs: 5 })
    const event = (seq: number) => ({ seq, event: { id: `e${seq}`, type: 'message' as const, author: 'bob', device: 'd', at: 1, text: `m${seq}` } })
    // Five at once into a queue of three: the two oldest go.
    publisher.enqueue('c', [1, 2, 3, 4, 5].map(event))
    await publisher.close()
    expect(taken).toEqual([3, 4, 5])
    const value = async (name: string) => (await register.getSingleMetric(name)!.get()).values[0]?.value
    expect(await value('parley_events_publish_dropped_total')).toBe(2)
    expect(await value('parley_events_publish_retries_total')).toBe(2)
    expect(await value('parley_events_published_total')).toBe(3)
  })

  it('publish resolves once the broker took every event, and rejects when one was dropped or the publisher closed first (the caller hands it over again later)', async () => {
    let release!: () => void
    const held = new Promise<void>(resolve => (release = resolve))
    const taken: number[] = []
    const sink: EventSink = {
      broker: 'nats',
      async publish(item) {
        await held
        taken.push(item.seq)
      },
      close: async () => undefined,
    }
    const publisher = new EventPublisher({ sink, register: new Registry(), log: pino({ level: 'silent' }), maxQueued: 2 })
    const event = (seq: number) => ({ seq, event: { id: `e${seq}`, type: 'message' as const, author: 'bob', device: 'd', at: 1, text: `m${seq}` } })
    const first = publisher.publish('c', [event(1)])
    const second = publisher.publish('c', [event(2)])
    // A third into a queue of two: the oldest waiting (1, already at the broker) is dropped all the same.
    const third = publisher.publish('c', [event(3)])
    await expect(first).rejects.toThrow('queue full')
    release()
    await expect(second).resolves.toBeUndefined()
    await expect(third).resolves.toBeUndefined()
    expect(taken).toEqual([1, 2, 3])
    await publisher.close()
    await expect(publisher.publish('c', [event(4)])).rejects.toThrow('closed')
  })
})
