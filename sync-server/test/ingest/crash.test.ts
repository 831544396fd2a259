/**
 * A crash between storing a message's event and acknowledging it to the broker: a real
 * parley-server process, held by the `hold-ack` failpoint (src/ingest/consumer.ts) right
 * after the store, is killed with SIGKILL; the broker redelivers the message to the
 * restarted server, whose idempotency key finds the stored event: exactly one event, and
 * the message acknowledged. Once for RabbitMQ, once for NATS JetStream.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AckPolicy, nanos } from 'nats'
import { readSegmentEvents, type SegmentDoc } from '@parley/core'
import { afterEach, describe, expect, it } from 'vitest'
import { NATS_URL, natsProducer, rabbitProducer, rabbitVhost, uniqueName } from './brokers.ts'
import { findWhenSynced, stockRepo } from '../helpers.ts'
import { startServerChild, type ServerChild } from '../server-child.ts'
import { createConversation, events, metricReaches } from './parley.ts'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
}, 60_000)

type Child = ServerChild
const startServer = (dataDir: string, ingest: string[], env: Record<string, string> = {}): Promise<Child> => startServerChild(dataDir, ingest, cleanups, env)

async function dataDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-ingest-crash-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** Publishes through `send`, kills the server between store and ack, restarts it: one event. */
async function crashBetweenStoreAndAck(ingest: string[], env: Record<string, string>, send: (conversation: string) => Promise<void>, afterKill: () => Promise<void>): Promise<Child> {
  const dataDir = await dataDirectory()
  const first = await startServer(dataDir, ingest, { ...env, PARLEY_INGEST_FAILPOINT: 'hold-ack' })
  const conversation = await createConversation(first, 'alice', ['bob'])
  await send(conversation)
  const held = JSON.parse(await first.line('acknowledgement held'))
  expect(held.conversationId).toBe(conversation)
  first.process.kill('SIGKILL')
  await first.exited
  await afterKill()

  const second = await startServer(dataDir, ingest, env)
  await metricReaches(second, 'parley_ingest_consumed_total', {}, 1)
  const messages = (await events(second, 'alice', conversation)).filter(event => event.type === 'message')
  expect(messages.map(({ id, author, text }) => ({ id, author, text }))).toEqual([{ id: held.eventId, author: 'bob', text: 'deploy 7 finished' }])
  // And in the conversation's document, as a device syncs it: stored before the kill, not only numbered.
  const client = await stockRepo(second, 'alice')
  try {
    const head = await (await fetch(`${second.httpUrl}/v1/conversations/${conversation}`, { headers: { authorization: `Bearer ${await second.token('alice')}` } })).json()
    const segment = await findWhenSynced<SegmentDoc>(client, head.segments.at(-1))
    expect(readSegmentEvents(segment.doc()).events.filter(event => event.id === held.eventId)).toHaveLength(1)
  } finally {
    client.close()
  }
  return second
}

describe('ingest: a crash between storing the event and acknowledging the message', { timeout: 120_000 }, () => {
  it('RabbitMQ: the message goes back to the queue, and its redelivery writes nothing twice', async () => {
    const vhost = await rabbitVhost()
    cleanups.push(() => vhost.remove())
    const producer = await rabbitProducer(vhost.url, 'parley-ingest')
    cleanups.push(() => producer.close())
    await crashBetweenStoreAndAck(
      ['--ingest', vhost.url],
      {},
      conversation => producer.send({ conversation, author: 'bob', text: 'deploy 7 finished', idempotencyKey: 'deploy-7' }),
      // The broker saw the connection die: the unacknowledged message is ready again.
      async () => {
        while ((await producer.depth()) !== 1) await new Promise(resolve => setTimeout(resolve, 20))
      },
    )
    while ((await producer.depth()) !== 0) await new Promise(resolve => setTimeout(resolve, 20))
    expect(await producer.deadLetters()).toEqual([])
  })

  it('NATS JetStream: the message is redelivered after the ack wait, and writes nothing twice', async () => {
    const name = uniqueName('parley_crash')
    const producer = await natsProducer(name)
    cleanups.push(() => producer.close())
    // The operator's consumer, with a short ack wait; the server uses it as it is.
    await producer.manager.streams.add({ name, subjects: [`${name}.>`] })
    await producer.manager.consumers.add(name, { durable_name: name, ack_policy: AckPolicy.Explicit, ack_wait: nanos(1000), max_ack_pending: 16 })
    await crashBetweenStoreAndAck(
      // The URL from the environment, as a deployment would give it.
      ['--ingest-name', name],
      { PARLEY_INGEST: NATS_URL },
      conversation => producer.send({ conversation, author: 'bob', text: 'deploy 7 finished', idempotencyKey: 'deploy-7' }),
      async () => undefined,
    )
    const consumer = await producer.manager.consumers.info(name, name)
    expect([consumer.num_pending, consumer.num_ack_pending]).toEqual([0, 0])
    // Delivered more than once: to the killed server (and again while it held it), then to the new one.
    expect(consumer.delivered.consumer_seq).toBeGreaterThan(1)
  })
})
