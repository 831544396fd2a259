/**
 * A cluster on the relay core (`--redis` + `--postgres`, its default there): segment changes
 * cross nodes on one Redis channel per conversation, only to nodes whose clients sync the
 * conversation (relay/hub.ts, cluster/change-bus.ts, docs/cluster.md "Segments over the
 * bus"). Three nodes in this process, one redis-server and one PostgreSQL database of
 * their own, clients of the SDK.
 */
import { next as Automerge } from '@automerge/automerge'
import { createClient, type Conversation, type ParleyClient, type TimelineItem } from '@parley/client'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { RedisChangeBus } from '../../src/cluster/change-bus.ts'
import { resolveServerOptions } from '../../src/config.ts'
import { createTestDatabase, RedisProcess, startTestServer, type PostgresTestDatabase, type TestServer } from '../../src/testing.ts'
import { http, meshed, metric, TEST_HEARTBEAT_MS } from './nodes.ts'

function timelineWhere(conversation: Conversation, predicate: (items: TimelineItem[]) => boolean): Promise<TimelineItem[]> {
  return new Promise(resolve => {
    let done = false
    const stop = conversation.subscribe(items => {
      if (done || !predicate(items)) return
      done = true
      queueMicrotask(() => stop())
      resolve(items)
    })
  })
}

const hasText = (text: string) => (items: TimelineItem[]) => items.some(item => item.text === text)

describe('segments over the bus, by interest', () => {
  let redis: RedisProcess
  let database: PostgresTestDatabase
  const nodes: TestServer[] = []
  const clients: ParleyClient[] = []

  async function connect(node: TestServer, user: string): Promise<ParleyClient> {
    const client = await createClient({ server: node.url, token: () => node.token(user), storage: { kind: 'memory' }, reconnect: { minMs: 50, maxMs: 500 } })
    clients.push(client)
    return client
  }

  beforeAll(async () => {
    database = await createTestDatabase()
    redis = await RedisProcess.start()
    for (let i = 0; i < 3; i++) nodes.push(await startTestServer({ redis: redis.url, postgres: database.url, relayCore: true, clusterHeartbeatMs: TEST_HEARTBEAT_MS })) // true: also under PARLEY_RELAY_CORE=0
    await meshed(nodes)
  })
  afterAll(async () => {
    vi.restoreAllMocks()
    await Promise.all(clients.map(client => client.close()))
    await Promise.all(nodes.map(node => node.close()))
    await redis?.stop()
    await database?.drop()
  })

  it('is the default in a cluster whose nodes share PostgreSQL, and refused with Redis alone', () => {
    expect(resolveServerOptions({ redis: redis.url, postgres: database.url, relayCore: true }).relayCore).toBe(true)
    expect(resolveServerOptions({ redis: redis.url, postgres: database.url }).relayCore).toBe(true)
    expect(resolveServerOptions({ redis: redis.url }).relayCore).toBe(false)
    expect(() => resolveServerOptions({ redis: redis.url, relayCore: true })).toThrow(expect.objectContaining({ code: 'PARLEY_ERR_INVALID_OPTION' }))
  })

  it('carries messages both ways, holds nothing on a node no client uses, refills a dropped frame, and leaves with the last client', async () => {
    const [one, two, three] = nodes as [TestServer, TestServer, TestServer]
    const alice = await connect(one, 'alice')
    const bob = await connect(two, 'bob')
    const conversation = await alice.createConversation({ title: 'over the bus', members: ['bob'] })
    await conversation.send('hello from node 1')
    await alice.sync()
    const bobs = await bob.conversation(conversation.id)
    await timelineWhere(bobs, hasText('hello from node 1'))

    // Live, both ways, once both nodes listen on the conversation's channel.
    await expect.poll(() => metric(two, 'parley_bus_subscriptions')).toBe(1)
    const sent = await metric(one, 'parley_bus_change_frames_total{direction="published"}')
    const live = timelineWhere(bobs, hasText('live from node 1'))
    await conversation.send('live from node 1')
    await live
    expect(await metric(one, 'parley_bus_change_frames_total{direction="published"}')).toBeGreaterThan(sent)
    expect(await metric(two, 'parley_bus_change_frames_total{direction="received"}')).toBeGreaterThan(0)
    const back = timelineWhere(conversation, hasText('reply from node 2'))
    await bobs.send('reply from node 2')
    await back

    // Node 3 has no client: it holds no segment and listens on no conversation.
    expect(await metric(one, 'parley_relay_segments_loaded')).toBeGreaterThan(0)
    expect(await metric(two, 'parley_relay_segments_loaded')).toBeGreaterThan(0)
    expect(await metric(one, 'parley_bus_subscriptions')).toBe(1)
    expect(await metric(three, 'parley_bus_subscriptions')).toBe(0)
    expect(await metric(three, 'parley_relay_segments_loaded')).toBe(0)
    expect(await metric(three, 'parley_bus_change_frames_total{direction="received"}')).toBe(0)

    // A frame lost on purpose: the next change's deps are missing on node 2, which reloads
    // the segment from PostgreSQL and delivers both. (The reload node 2 does SETTLE_MS after
    // it began to listen, relay/late-refills.ts, may come between the two and find it first.)
    const refills = async () => (await metric(two, 'parley_relay_refills_total{reason="gap"}')) + (await metric(two, 'parley_relay_refills_total{reason="listening"}'))
    const before = await refills()
    // Lost every time it is published: at once, and again should its write take SETTLE_MS
    // (relay/bus-outbox.ts; a busy machine), which would otherwise fill the gap first.
    const publishFrame = RedisChangeBus.prototype.publish
    const isLost = (change: Uint8Array) => Automerge.decodeChange(change).ops.some(op => typeof op.value === 'string' && op.value.includes('dropped on the bus'))
    const publish = vi.spyOn(RedisChangeBus.prototype, 'publish').mockImplementation(function (this: RedisChangeBus, conversationId, segmentId, changes) {
      if (!changes.some(isLost)) publishFrame.call(this, conversationId, segmentId, changes)
    })
    await conversation.send('dropped on the bus')
    await expect.poll(() => publish.mock.calls.some(([, , changes]) => changes.some(isLost))).toBe(true)
    const both = timelineWhere(bobs, items => hasText('dropped on the bus')(items) && hasText('after the gap')(items))
    await conversation.send('after the gap')
    await both
    publish.mockRestore()
    expect(await refills()).toBeGreaterThan(before)

    // An HTTP publish on node 3 (no client there) reaches the clients of nodes 1 and 2.
    const viaHttp = Promise.all([timelineWhere(conversation, hasText('over HTTP on node 3')), timelineWhere(bobs, hasText('over HTTP on node 3'))])
    expect((await http(three, 'alice', 'POST', `/v1/conversations/${conversation.id}/messages`, { text: 'over HTTP on node 3' })).status).toBe(201)
    await viaHttp
    expect(await metric(three, 'parley_bus_subscriptions')).toBe(0)

    // One sequence for the cluster: every node lists the same numbers, no gap.
    const events = async (node: TestServer) => ((await http(node, 'alice', 'GET', `/v1/conversations/${conversation.id}/events?after=0&limit=100`)).body.events as { seq: number; text?: string }[])
    const listed = await events(one)
    expect(listed.map(event => event.seq)).toEqual(listed.map((_, i) => i + 1))
    expect(listed.filter(event => event.text !== undefined)).toHaveLength(6)
    expect(await events(two)).toEqual(listed)

    // Bob leaves: node 2 unsubscribes; node 1 still listens for alice.
    await bob.close()
    await expect.poll(() => metric(two, 'parley_bus_subscriptions')).toBe(0)
    expect(await metric(one, 'parley_bus_subscriptions')).toBe(1)
  })

  it('reloads from PostgreSQL what was sent while Redis was down, once the link is back', async () => {
    const [one, two] = nodes as [TestServer, TestServer]
    const alice = await connect(one, 'alice')
    const bob = await connect(two, 'bob')
    const conversation = await alice.createConversation({ title: 'outage', members: ['bob'] })
    await conversation.send('before the outage')
    await alice.sync()
    const bobs = await bob.conversation(conversation.id)
    await timelineWhere(bobs, hasText('before the outage'))
    await expect.poll(() => metric(two, 'parley_bus_subscriptions')).toBe(1)
    const reloads = await metric(two, 'parley_relay_refills_total{reason="listening"}')

    await redis.kill()
    await expect.poll(() => metric(one, 'parley_bus_change_connected')).toBe(0)
    await expect.poll(() => metric(two, 'parley_bus_change_connected')).toBe(0)
    await conversation.send('while Redis is down')
    await alice.sync()
    await redis.restart()
    // Nothing publishes it again: node 2 finds it in storage once it listens again.
    await timelineWhere(bobs, hasText('while Redis is down'))
    expect(await metric(two, 'parley_relay_refills_total{reason="listening"}')).toBeGreaterThan(reloads)
    const after = timelineWhere(conversation, hasText('after the outage'))
    await bobs.send('after the outage')
    await after
  })
})
