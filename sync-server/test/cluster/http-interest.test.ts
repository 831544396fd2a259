/**
 * HTTP waiters in a cluster on the relay core (`--redis` + `--postgres`): a long poll or an
 * SSE stream on a node makes it listen on the conversation's channel while it waits, and a
 * change another node accepted wakes it, even when this node holds none of the
 * conversation's segments: the index reads the numbers back from PostgreSQL
 * (events/event-index.ts `news`, docs/cluster.md "HTTP streams"). No client of node 3
 * ever opens the conversation. Three nodes in this process, one redis-server and one
 * PostgreSQL database of their own.
 */
import { createClient, type Conversation, type ParleyClient } from '@parley/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, RedisProcess, startTestServer, type PostgresTestDatabase, type TestServer } from '../../src/testing.ts'
import { http, meshed, metric, sse, TEST_HEARTBEAT_MS, type ApiEvent } from './nodes.ts'

describe('long polls and SSE streams on a node no client of the conversation uses', () => {
  let redis: RedisProcess
  let database: PostgresTestDatabase
  const nodes: TestServer[] = []
  const clients: ParleyClient[] = []

  beforeAll(async () => {
    database = await createTestDatabase()
    redis = await RedisProcess.start()
    // Node 3 unloads a segment no peer syncs 200 ms after its last use, so its waiters are
    // woken on the path where it holds none of the conversation.
    for (const idle of [300_000, 300_000, 200]) {
      nodes.push(await startTestServer({ redis: redis.url, postgres: database.url, relayCore: true, documentIdleMs: idle, clusterHeartbeatMs: TEST_HEARTBEAT_MS }))
    }
    await meshed(nodes)
  })
  afterAll(async () => {
    await Promise.all(clients.map(client => client.close()))
    await Promise.all(nodes.map(node => node.close()))
    await redis?.stop()
    await database?.drop()
  })

  /** Alice on node 1 with a conversation with bob, one message in it; its last number. */
  async function started(title: string): Promise<{ alice: ParleyClient; conversation: Conversation; send: (text: string) => Promise<void>; id: string; last: number }> {
    const [one] = nodes as [TestServer]
    const alice = await createClient({ server: one.url, token: () => one.token('alice'), storage: { kind: 'memory' } })
    clients.push(alice)
    const conversation = await alice.createConversation({ title, members: ['bob'] })
    await conversation.send('before')
    await alice.sync()
    const events = async () => (await http(one, 'alice', 'GET', `/v1/conversations/${conversation.id}/events?after=0`)).body.events as ApiEvent[]
    await expect.poll(async () => (await events()).some(event => event.text === 'before')).toBe(true)
    const send = async (text: string): Promise<void> => {
      await conversation.send(text)
      await alice.sync()
    }
    return { alice, conversation, send, id: conversation.id, last: (await events()).at(-1)!.seq }
  }

  it('a long poll on node 3 wakes for a message sent through node 1, node 3 stops listening after, and a client may write on a node where HTTP loaded the segment', async () => {
    const three = nodes[2]!
    const { conversation, send, id, last } = await started('long poll')
    expect(await metric(three, 'parley_bus_subscriptions')).toBe(0)

    const poll = http(three, 'bob', 'GET', `/v1/conversations/${id}/events?after=${last}&wait=30`)
    // Parked and listening; the segment its check loaded is unloaded again, unused.
    await expect.poll(() => metric(three, 'parley_long_polls_waiting')).toBe(1)
    await expect.poll(() => metric(three, 'parley_bus_subscriptions')).toBe(1)
    await expect.poll(() => metric(three, 'parley_relay_segments_loaded')).toBe(0)

    await send('while bob polls on node 3')
    const answer = await poll
    expect(answer.status).toBe(200)
    expect(answer.body.events).toEqual([expect.objectContaining({ seq: last + 1, text: 'while bob polls on node 3' })])
    expect(await metric(three, 'parley_bus_change_frames_total{direction="received"}')).toBeGreaterThan(0)
    await expect.poll(() => metric(three, 'parley_bus_subscriptions')).toBe(0)

    // Node 2 (no client either, idle documents kept) answered node 1's question about the
    // new segment ("not here"); an HTTP call loads the segment there, then a client of node 2
    // writes to it and is not refused over a remembered absence (cluster/registry-facts.ts).
    const two = nodes[1]!
    expect((await http(two, 'bob', 'GET', `/v1/conversations/${id}/events?after=0`)).status).toBe(200)
    expect(await metric(two, 'parley_relay_segments_loaded')).toBeGreaterThan(0)
    const bob = await createClient({ server: two.url, token: () => two.token('bob'), storage: { kind: 'memory' } })
    clients.push(bob)
    const bobs = await bob.conversation(id)
    const heard = new Promise<void>(resolve => {
      const stop = conversation.subscribe(items => items.some(item => item.text === 'bob from node 2') && (queueMicrotask(() => stop()), resolve()))
    })
    await bobs.send('bob from node 2')
    await heard
    await bob.close()
  })

  it('an SSE stream on node 3 hears every message sent through node 1, numbered without a gap, and node 3 stops listening when it closes', async () => {
    const three = nodes[2]!
    const { send, id, last } = await started('stream')
    const controller = new AbortController()
    const response = await fetch(`${three.httpUrl}/v1/conversations/${id}/stream?after=${last}`, { headers: { authorization: `Bearer ${await three.token('bob')}` }, signal: controller.signal })
    expect(response.status).toBe(200)
    const events = sse(response)
    await expect.poll(() => metric(three, 'parley_bus_subscriptions')).toBe(1)
    await expect.poll(() => metric(three, 'parley_relay_segments_loaded')).toBe(0)

    const texts = ['first on the stream', 'second on the stream', 'third on the stream']
    for (const text of texts) await send(text)
    const heard: ApiEvent[] = []
    for await (const event of events) {
      heard.push(event)
      if (heard.length === texts.length) break
    }
    expect(heard.map(event => event.text)).toEqual(texts)
    expect(heard.map(event => event.seq)).toEqual(texts.map((_, i) => last + 1 + i))
    controller.abort()
    await expect.poll(() => metric(three, 'parley_bus_subscriptions')).toBe(0)
  })
})
