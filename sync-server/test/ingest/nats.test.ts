/**
 * Ingest from NATS JetStream (src/ingest/nats.ts) against the machine's NATS server, a
 * stream of its own per test (deleted at the end): a message becomes an event readable
 * over HTTP and is acknowledged, poison messages go to the dead-letter stream with their
 * reason, and order within a conversation is kept.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from '../../src/testing.ts'
import { NATS_URL, natsProducer, uniqueName } from './brokers.ts'
import { createConversation, messagesWhen, metric, metricReaches } from './parley.ts'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
}, 60_000)

async function setup() {
  const name = uniqueName('parley_test')
  const producer = await natsProducer(name)
  cleanups.push(() => producer.close())
  const server: TestServer = await startTestServer({ ingest: NATS_URL, ingestName: name, ingestPrefetch: 16 })
  cleanups.push(() => server.close())
  // The server creates the stream when it starts consuming: publish only once it is there.
  while (!(await producer.manager.streams.info(name).then(() => true, () => false))) await new Promise(resolve => setTimeout(resolve, 20))
  return { name, producer, server }
}

describe('ingest from NATS JetStream', { timeout: 60_000 }, () => {
  it('writes a message as its author, or as the system user, readable over HTTP; acknowledged', async () => {
    const { name, producer, server } = await setup()
    const conversation = await createConversation(server, 'alice', ['bob', 'system'])
    await producer.send({ conversation, author: 'bob', text: 'build 42 passed', priority: 'low', idempotencyKey: 'build-42' })
    await producer.send({ conversation, system: true, text: 'maintenance at noon' }, `${name}.notices`, { 'Nats-Msg-Id': 'notice-7' })
    const messages = await messagesWhen(server, 'alice', conversation, 2)
    expect(messages.map(({ author, text, priority }) => ({ author, text, priority }))).toEqual([
      { author: 'bob', text: 'build 42 passed', priority: 'low' },
      { author: 'system', text: 'maintenance at noon', priority: undefined },
    ])
    await metricReaches(server, 'parley_ingest_consumed_total', { broker: 'nats' }, 2)
    const consumer = await producer.manager.consumers.info(name, name)
    expect([consumer.num_pending, consumer.num_ack_pending]).toEqual([0, 0])
    expect(await metric(server, 'parley_ingest_lag_messages', { broker: 'nats' })).toBe(0)
  })

  it('dead-letters what can never be applied, with the reason, and acknowledges it on the stream', async () => {
    const { producer, server } = await setup()
    const conversation = await createConversation(server, 'alice', ['bob'])
    const poison: [unknown, string][] = [
      [new TextEncoder().encode('not json'), 'invalid'],
      [{ conversation, author: 'bob', text: 'no key' }, 'invalid'],
      [{ conversation: 'no-such-conversation', author: 'bob', text: 'hi', idempotencyKey: 'k3' }, 'unknown-conversation'],
      [{ conversation, author: 'mallory', text: 'let me in', idempotencyKey: 'k4' }, 'not-member'],
      [{ conversation, author: 'bob', text: 'x'.repeat(17 * 1024), idempotencyKey: 'k5' }, 'too-large'],
    ]
    for (const [body] of poison) await producer.send(body)
    await producer.send({ conversation, author: 'bob', text: 'still flowing', idempotencyKey: 'k6' })
    expect((await messagesWhen(server, 'alice', conversation, 1)).map(message => message.text)).toEqual(['still flowing'])
    const letters = await producer.deadLetters(poison.length)
    expect(letters.map(letter => letter.reason).sort()).toEqual(poison.map(([, reason]) => reason).sort())
    for (const letter of letters) expect(letter.subject.endsWith(`-dead.${letter.reason}`)).toBe(true)
    expect(letters.find(letter => letter.reason === 'not-member')!.detail).toMatch(/not a member/)
    expect(letters.find(letter => letter.reason === 'invalid' && letter.body === 'not json')).toBeDefined()
    await metricReaches(server, 'parley_ingest_rejected_total', { broker: 'nats', reason: 'invalid' }, 2)
    await metricReaches(server, 'parley_ingest_consumed_total', { broker: 'nats' }, 1)
    const consumer = await producer.manager.consumers.info(server.server.options.ingestName, server.server.options.ingestName)
    expect([consumer.num_pending, consumer.num_ack_pending]).toEqual([0, 0])
  })

  it('keeps the order of messages within a conversation', async () => {
    const { name, producer, server } = await setup()
    const first = await createConversation(server, 'alice', ['bob'])
    const second = await createConversation(server, 'alice', ['bob'])
    for (let i = 0; i < 40; i++) await producer.send({ conversation: i % 2 ? second : first, author: i % 3 ? 'bob' : 'alice', text: `m${i}`, idempotencyKey: `k${i}` }, `${name}.m${i % 5}`)
    const inFirst = await messagesWhen(server, 'alice', first, 20)
    const inSecond = await messagesWhen(server, 'alice', second, 20)
    expect(inFirst.map(message => message.text)).toEqual(Array.from({ length: 20 }, (_, i) => `m${2 * i}`))
    expect(inSecond.map(message => message.text)).toEqual(Array.from({ length: 20 }, (_, i) => `m${2 * i + 1}`))
  })
})
