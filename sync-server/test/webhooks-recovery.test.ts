/**
 * A message numbered by a server that stopped before queueing its webhook gets the webhook
 * anyway, from the next server on the same storage (events/notifications.ts), on LevelDB
 * and on PostgreSQL; each notification's ID is its event's (webhooks/dispatcher.ts
 * notificationKey), so a receiver deduplicating on it acts once.
 *
 * The stop between the numbering and the enqueue is made as its storage shows it: the
 * message is numbered (as a node's event index numbers it, listed as not notified in the
 * same write) with no server running to queue anything. A SIGKILL cannot be aimed at that
 * window reliably (test/reliability/cluster-faults.test.ts kills nodes mid-writes and
 * checks the outcome).
 */
import type { ParleyEvent } from '@parley/core'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EventIndex } from '../src/events/event-index.ts'
import { openDatabases } from '../src/storage/databases.ts'
import { createTestDatabase, startTestServer, type PostgresTestDatabase, type TestServer } from '../src/testing.ts'
import { notificationKey } from '../src/webhooks/dispatcher.ts'
import { Receiver } from './fixtures/webhook-receiver.ts'

const SECRET = 'webhook-recovery-secret'

describe.each(['LevelDB', 'PostgreSQL'] as const)('a webhook whose server stopped before queueing it, on %s', backend => {
  let dataDir: string
  let database: PostgresTestDatabase | undefined
  let receiver: Receiver
  let server: TestServer | undefined

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'parley-webhook-recovery-'))
    database = backend === 'PostgreSQL' ? await createTestDatabase() : undefined
    receiver = await new Receiver().start()
  })
  afterAll(async () => {
    await server?.close()
    await receiver.close()
    await database?.drop()
    await rm(dataDir, { recursive: true, force: true })
  })

  const start = () => startTestServer({ dataDir, webhookUrl: receiver.url, webhookSecret: SECRET, push: false, ...(database && { postgres: database.url }) })

  async function call(method: 'GET' | 'POST', url: string, body?: object) {
    const response = await server!.server.app.inject({ method, url, headers: { authorization: `Bearer ${await server!.token('alice')}` }, ...(body ? { payload: body } : {}) })
    return response.json() as Record<string, any>
  }

  it('is queued by the next server on the same storage, under its event\'s key, and nothing delivered is queued again', async () => {
    server = await start()
    const id = (await call('POST', '/v1/conversations', { members: ['bob'] })).id as string
    const live = await call('POST', `/v1/conversations/${id}/messages`, { text: 'live' })
    await receiver.waitFor(1)
    expect(receiver.received[0]!.json).toMatchObject({ id: notificationKey(id, live.seq), seq: live.seq, event: { text: 'live' } })
    await server.close()
    server = undefined

    // The stopped server's last act: numbering a message, nothing queued.
    const databases = await openDatabases(dataDir, { retryMs: 1000, maxHeldBytes: 1 << 20, minFreeBytes: 0, postgres: database?.url })
    const crashed: ParleyEvent = { type: 'message', id: 'crashed-before-enqueue', author: 'alice', device: 'd1', at: Date.now(), text: 'numbered, not queued' }
    const [numbered] = await new EventIndex(databases.events, { notify: true }).record(id, [crashed])
    await databases.close()
    expect(numbered!.seq).toBe(live.seq + 1)

    server = await start()
    // After the grace period (10 s) the next look hands it over.
    await receiver.waitFor(2)
    expect(receiver.received[1]!.json).toMatchObject({ id: notificationKey(id, numbered!.seq), conversationId: id, seq: numbered!.seq, recipients: ['bob'], event: { id: crashed.id, text: crashed.text } })
    expect(receiver.received[1]!.headers['x-parley-delivery']).toBe(notificationKey(id, numbered!.seq))
    // Once: the live message's webhook was taken off the list when the first server closed.
    await server.close()
    server = undefined
    expect(receiver.received.map(({ json }) => (json.event as { text: string }).text)).toEqual(['live', 'numbered, not queued'])
  }, 60_000)
})
