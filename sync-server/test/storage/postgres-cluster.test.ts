/**
 * A cluster (two nodes on one Redis bus) sharing one PostgreSQL database: the HTTP event
 * numbers are one sequence the nodes agree on, though every node records every event it
 * receives over the bus, an SSE stream on either node hears all of them without a gap,
 * and a message to an offline member is queued and delivered as a webhook once, though
 * both nodes have webhooks configured. (Each node with its own
 * LevelDB numbers and notifies on its own: docs/cluster.md, known limits.)
 */
import { afterEach, describe, expect, it } from 'vitest'
import { PostgresPool } from '../../src/storage/postgres/index.ts'
import { createTestDatabase, RedisProcess, startTestServer, type TestServer } from '../../src/testing.ts'
import { http, meshed, sse, TEST_HEARTBEAT_MS, type ApiEvent } from '../cluster/nodes.ts'
import { Receiver } from '../fixtures/webhook-receiver.ts'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function eventually(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise(resolve => setTimeout(resolve, 50))
}

describe('a cluster on one PostgreSQL database', () => {
  it('numbers each conversation once for every node and sends each webhook once', async () => {
    const database = await createTestDatabase()
    cleanups.push(() => database.drop())
    const redis = await RedisProcess.start()
    cleanups.push(() => redis.stop())
    const receiver = await new Receiver().start()
    cleanups.push(() => receiver.close())
    const nodes: TestServer[] = []
    for (let i = 0; i < 2; i++) {
      // The repo path (every node receives every event over the bus), not the relay core that is the default here since issue 16
      // (test/cluster/relay-bus.test.ts, http-interest.test.ts): a node with no client or waiter on the conversation hears none of it there.
      const node = await startTestServer({ redis: redis.url, clusterHeartbeatMs: TEST_HEARTBEAT_MS, postgres: database.url, relayCore: false, webhookUrl: receiver.url, webhookSecret: 'cluster-webhook-secret' })
      cleanups.push(() => node.close())
      nodes.push(node)
    }
    await meshed(nodes)
    const [one, two] = nodes as [TestServer, TestServer]

    // bob never connects: every message to him is a webhook.
    const created = await http(one, 'alice', 'POST', '/v1/conversations', { members: ['bob'] })
    expect(created.status).toBe(201)
    const id = created.body.id as string
    // A stream on each node from the start: each hears the events it numbered and those the other did.
    const streams = await Promise.all(
      nodes.map(async node => {
        const controller = new AbortController()
        cleanups.push(async () => controller.abort())
        const response = await fetch(`${node.httpUrl}/v1/conversations/${id}/stream?after=0`, { headers: { authorization: `Bearer ${await node.token('alice')}` }, signal: controller.signal })
        expect(response.status).toBe(200)
        return sse(response)
      }),
    )
    const perNode = 10
    const published = await Promise.all(
      nodes.flatMap((node, n) => Array.from({ length: perNode }, (_, i) => http(node, 'alice', 'POST', `/v1/conversations/${id}/messages`, { text: `node${n}-${i}` }))),
    )
    for (const answer of published) expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(300)

    // Both nodes serve one numbering, 1..n, and each node's stream hears all of it in order.
    const page = async (node: TestServer) => (await http(node, 'alice', 'GET', `/v1/conversations/${id}/events?after=0&limit=500`)).body.events as ApiEvent[]
    const events = await page(one)
    expect(events.map(event => event.seq)).toEqual(events.map((_, i) => i + 1))
    expect(await page(two)).toEqual(events)
    const messages = events.filter(event => event.type === 'message')
    expect(messages).toHaveLength(2 * perNode)
    for (const stream of streams) {
      const heard: ApiEvent[] = []
      for await (const event of stream) if (heard.push(event) === events.length) break
      expect(heard).toEqual(events)
    }

    // Both nodes queued what they numbered; the shared queue delivered it, once.
    const pool = new PostgresPool(database.url, { max: 1 })
    cleanups.push(() => pool.close())
    await receiver.waitFor(messages.length)
    await eventually(async () => (await pool.query('SELECT 1 FROM parley_webhooks')).length === 0)
    const delivered = receiver.received.map(request => request.json as { event: { id: string }; seq: number; recipients: string[] })
    expect(delivered.map(body => body.event.id).sort()).toEqual(messages.map(event => event.id).sort())
    for (const body of delivered) {
      expect(body.recipients).toEqual(['bob'])
      expect(body.seq).toBe(messages.find(event => event.id === body.event.id)!.seq)
    }
  })
})
