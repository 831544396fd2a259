/**
 * Ingest from RabbitMQ (src/ingest/amqp.ts) against the machine's RabbitMQ, a vhost per
 * test: a message becomes an event readable over HTTP, poison messages are dead-lettered
 * with their reason and acknowledged, a message that cannot be applied now is retried and
 * not dead-lettered, order within a conversation is kept, and queue priorities decide
 * which waiting message is applied first.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ServerOptions } from '../../src/config.ts'
import { startTestServer, type TestServer } from '../../src/testing.ts'
import { openIngest } from '../../src/ingest/open.ts'
import type { IngestTarget } from '../../src/ingest/processor.ts'
import { Registry } from 'prom-client'
import pino from 'pino'
import { rabbitProducer, rabbitVhost } from './brokers.ts'
import { createConversation, messagesWhen, metric, metricReaches } from './parley.ts'

const QUEUE = 'parley-ingest'
const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
}, 60_000)

async function setup(options: { prefetch?: number; server?: ServerOptions } = {}) {
  const vhost = await rabbitVhost()
  cleanups.push(() => vhost.remove())
  const producer = await rabbitProducer(vhost.url, QUEUE)
  cleanups.push(() => producer.close())
  const start = async (dataDir?: string): Promise<TestServer> => {
    const server = await startTestServer({ ingest: vhost.url, ingestPrefetch: options.prefetch ?? 16, ...options.server, ...(dataDir && { dataDir }) })
    cleanups.push(() => server.close())
    return server
  }
  return { vhost, producer, start }
}

describe('ingest from RabbitMQ', { timeout: 60_000 }, () => {
  it('writes a message as its author, or as the system user, readable over HTTP; acknowledged', async () => {
    const { producer, start } = await setup()
    const server = await start()
    const conversation = await createConversation(server, 'alice', ['bob', 'system'])
    await producer.send({ conversation, author: 'bob', text: 'build 42 passed', priority: 'high', idempotencyKey: 'build-42' })
    await producer.send({ conversation, system: true, text: 'maintenance at noon' }, { messageId: 'notice-7' })
    const messages = await messagesWhen(server, 'alice', conversation, 2)
    expect(messages.map(({ author, text, priority }) => ({ author, text, priority }))).toEqual([
      { author: 'bob', text: 'build 42 passed', priority: 'high' },
      { author: 'system', text: 'maintenance at noon', priority: undefined },
    ])
    await metricReaches(server, 'parley_ingest_consumed_total', { broker: 'amqp' }, 2)
    expect(await producer.depth()).toBe(0)
    expect(await metric(server, 'parley_ingest_connected', { broker: 'amqp' })).toBe(1)
    expect(await producer.deadLetters()).toEqual([])
  })

  it('dead-letters what can never be applied, with the reason, and acknowledges it on the queue', async () => {
    const { producer, start } = await setup()
    const server = await start()
    const conversation = await createConversation(server, 'alice', ['bob'])
    const poison: [unknown, string][] = [
      [Buffer.from('{"conversation": '), 'invalid'],
      [{ conversation, author: 'bob', text: 'no key' }, 'invalid'],
      [{ conversation, author: 'bob', system: true, text: 'two senders', idempotencyKey: 'k1' }, 'invalid'],
      [{ conversation, author: 'bob', text: 'extra', idempotencyKey: 'k2', __proto__x: 1 }, 'invalid'],
      [{ conversation: 'no-such-conversation', author: 'bob', text: 'hi', idempotencyKey: 'k3' }, 'unknown-conversation'],
      [{ conversation, author: 'mallory', text: 'let me in', idempotencyKey: 'k4' }, 'not-member'],
      [{ conversation, author: 'bob', text: 'x'.repeat(17 * 1024), idempotencyKey: 'k5' }, 'too-large'],
      [Buffer.alloc(6 * 16 * 1024 + 4097, 0x20), 'too-large'],
    ]
    for (const [body] of poison) await producer.send(body)
    // One good message after them: once it is stored, every earlier one was settled.
    await producer.send({ conversation, author: 'bob', text: 'still flowing', idempotencyKey: 'k6' })
    const messages = await messagesWhen(server, 'alice', conversation, 1)
    expect(messages.map(message => message.text)).toEqual(['still flowing'])
    await metricReaches(server, 'parley_ingest_rejected_total', { broker: 'amqp', reason: 'invalid' }, 4)
    const letters = await producer.deadLetters()
    expect(letters.map(letter => letter.reason).sort()).toEqual(poison.map(([, reason]) => reason).sort())
    expect(letters.find(letter => letter.reason === 'not-member')!.detail).toMatch(/not a member/)
    expect(letters.find(letter => letter.reason === 'unknown-conversation')!.body).toContain('no-such-conversation')
    for (const reason of ['unknown-conversation', 'not-member']) expect(await metric(server, 'parley_ingest_rejected_total', { broker: 'amqp', reason })).toBe(1)
    expect(await metric(server, 'parley_ingest_rejected_total', { broker: 'amqp', reason: 'too-large' })).toBe(2)
    expect(await producer.depth()).toBe(0)
    expect(await producer.depth(`${QUEUE}.dead`)).toBe(0)
  })

  it('passes the content policy HTTP publish passes: a rejected text is a dead letter', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-ingest-words-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    await writeFile(join(dir, 'words.txt'), 'swindle\n')
    const { producer, start } = await setup({ server: { moderationWords: join(dir, 'words.txt') } })
    const server = await start()
    const conversation = await createConversation(server, 'alice', ['bob'])
    await producer.send({ conversation, author: 'bob', text: 'a swindle for you', idempotencyKey: 'k1' })
    await producer.send({ conversation, author: 'bob', text: 'a fair offer', idempotencyKey: 'k2' })
    expect((await messagesWhen(server, 'alice', conversation, 1)).map(message => message.text)).toEqual(['a fair offer'])
    await metricReaches(server, 'parley_ingest_rejected_total', { broker: 'amqp', reason: 'refused' }, 1)
    const [letter] = await producer.deadLetters()
    expect(letter).toMatchObject({ reason: 'refused', body: expect.stringContaining('swindle') })
  })

  it('keeps the order of messages within a conversation', async () => {
    const { producer, start } = await setup({ prefetch: 16 })
    const server = await start()
    const first = await createConversation(server, 'alice', ['bob'])
    const second = await createConversation(server, 'alice', ['bob'])
    for (let i = 0; i < 40; i++) await producer.send({ conversation: i % 2 ? second : first, author: i % 3 ? 'bob' : 'alice', text: `m${i}`, idempotencyKey: `k${i}` })
    const inFirst = await messagesWhen(server, 'alice', first, 20)
    const inSecond = await messagesWhen(server, 'alice', second, 20)
    expect(inFirst.map(message => message.text)).toEqual(Array.from({ length: 20 }, (_, i) => `m${2 * i}`))
    expect(inSecond.map(message => message.text)).toEqual(Array.from({ length: 20 }, (_, i) => `m${2 * i + 1}`))
  })

  it('applies waiting messages by their broker priority', async () => {
    const { producer, start } = await setup({ prefetch: 1 })
    // The conversation first, with ingest off; the messages wait in the queue meanwhile.
    const first = await startTestServer()
    const conversation = await createConversation(first, 'alice', ['bob'])
    await first.server.close()
    const sent = [
      ['low-1', 0],
      ['normal-1', 4],
      ['high-1', 9],
      ['low-2', 0],
      ['high-2', 9],
      ['normal-2', 4],
    ] as const
    for (const [text, priority] of sent) await producer.send({ conversation, author: 'bob', text, idempotencyKey: text }, { priority })
    const server = await start(first.dataDir)
    const messages = await messagesWhen(server, 'alice', conversation, 6)
    expect(messages.map(message => message.text)).toEqual(['high-1', 'high-2', 'normal-1', 'normal-2', 'low-1', 'low-2'])
  })

  it('hands back a message it cannot apply now (storage, a failure) and applies it on redelivery, not as a dead letter', async () => {
    const { vhost, producer } = await setup()
    const calls: string[] = []
    // Storage refuses the first look (a full disk), then the first write fails.
    let refusals = 1
    const target: IngestTarget = {
      conversationExists: async () => true,
      writable: () => refusals-- <= 0,
      async publish(_user, _conversationId, body) {
        calls.push(body.text)
        if (calls.length === 1) throw new Error('connection to storage lost')
        return { seq: calls.length, event: { id: `e${calls.length}` } }
      },
    }
    const register = new Registry()
    const ingest = openIngest({ url: vhost.url, name: QUEUE, prefetch: 4, systemUser: 'system', limits: { maxTextBytes: 16 * 1024 }, target, register, log: pino({ level: 'silent' }) })
    cleanups.push(() => ingest.close())
    await ingest.start()
    await producer.send({ conversation: 'c1', author: 'bob', text: 'retry me', idempotencyKey: 'r1' })
    const consumed = async () => (await register.getSingleMetric('parley_ingest_consumed_total')!.get()).values[0]?.value ?? 0
    while ((await consumed()) !== 1) await new Promise(resolve => setTimeout(resolve, 20))
    expect(calls).toEqual(['retry me', 'retry me'])
    expect((await register.getSingleMetric('parley_ingest_retried_total')!.get()).values[0]?.value).toBe(2)
    expect(await producer.deadLetters()).toEqual([])
    expect(await producer.depth()).toBe(0)
  })
})
