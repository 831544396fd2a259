/**
 * --publish-events across a crash (src/ingest/outbound.ts over events/notifications.ts):
 * events numbered by a server killed (SIGKILL) before the broker took them are published
 * by the restarted server. The kill is aimed by the broker: the first server publishes to
 * a NATS address where nothing listens, so its events are numbered and their publishing
 * retried, not done, when the process dies. On LevelDB the restarted server publishes them
 * at once; on PostgreSQL after the grace period (10 s), as any node of a cluster would.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { freePort } from '../../src/free-port.ts'
import { createTestDatabase } from '../../src/testing.ts'
import type { PublishedEvent } from '../../src/ingest/outbound.ts'
import { startServerChild } from '../server-child.ts'
import { NATS_URL, natsProducer, uniqueName } from './brokers.ts'
import { createConversation, events } from './parley.ts'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
}, 60_000)

describe.each(['LevelDB', 'PostgreSQL'] as const)('publishing events across a crash, on %s', { timeout: 120_000 }, backend => {
  it('NATS: what a killed server numbered and never published is published by the restarted one, each event once', async () => {
    const name = uniqueName('parley_pubcrash')
    const nats = await natsProducer(name)
    cleanups.push(async () => {
      await nats.manager.streams.delete(`${name}-events`).catch(() => undefined)
      await nats.close()
    })
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-publish-crash-'))
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }))
    const database = backend === 'PostgreSQL' ? await createTestDatabase() : undefined
    if (database) cleanups.push(() => database.drop())
    const storage = database ? ['--postgres', database.url] : []

    const away = `nats://127.0.0.1:${await freePort()}`
    const first = await startServerChild(dataDir, ['--publish-events', away, '--ingest-name', name, ...storage], cleanups)
    const conversation = await createConversation(first, 'alice', ['bob'])
    const response = await fetch(`${first.httpUrl}/v1/conversations/${conversation}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await first.token('alice')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'numbered, not published' }),
    })
    expect(response.status).toBe(201)
    const numbered = await events(first, 'alice', conversation)
    expect(numbered.some(event => event.text === 'numbered, not published')).toBe(true)
    // Tried and refused: numbered, handed to the publisher, not published.
    await first.line('publish events: the broker did not take an event')
    await first.kill()

    const second = await startServerChild(dataDir, ['--publish-events', NATS_URL, '--ingest-name', name, ...storage], cleanups)
    await expect.poll(() => nats.manager.streams.info(`${name}-events`).then(() => true, () => false), { timeout: 30_000 }).toBe(true)
    const consumer = await nats.connection.jetstream().consumers.get(`${name}-events`)
    const received: PublishedEvent[] = []
    while (received.length < numbered.length) {
      const message = await consumer.next({ expires: 5000 })
      if (message) received.push(JSON.parse(new TextDecoder().decode(message.data)))
    }
    expect(received.map(({ conversationId, seq, event }) => [conversationId, seq, event.id])).toEqual(numbered.map(({ seq, id }) => [conversation, seq, id]))
    // Each once: JetStream holds no more (the message ID would have deduplicated a second publish anyway).
    expect((await nats.manager.streams.info(`${name}-events`)).state.messages).toBe(numbered.length)
    await second.kill()
  })
})
