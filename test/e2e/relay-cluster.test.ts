/**
 * A cluster on the relay core, for real: three parley-server processes with `--redis` and
 * `--postgres` (the relay core is the default there) on one redis-server and one
 * PostgreSQL database of their own. Segment changes cross nodes only to nodes whose clients use the conversation
 * (docs/cluster.md, "Segments over the bus"); a node killed with SIGKILL loses nothing its
 * clients sent, and its client carries on from another node.
 */
import type { Conversation, ParleyClient } from '@parley/client'
import { createClient } from '@parley/client'
import { createTestDatabase, RedisProcess, type PostgresTestDatabase } from '@parley/sync-server/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_RECONNECT } from '../support/clients.ts'
import { ServerProcess } from '../support/server-process.ts'
import { timelineWhere } from '../support/timeline.ts'

async function metric(node: ServerProcess, sample: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${node.port}/metrics`)).text()
  const line = text.split('\n').find(candidate => candidate.startsWith(`${sample} `))
  return line ? Number(line.slice(sample.length + 1)) : Number.NaN
}

async function health(node: ServerProcess): Promise<{ cluster: { nodes: number } }> {
  return (await fetch(`http://127.0.0.1:${node.port}/healthz`)).json() as never
}

const holds = (conversation: Conversation, texts: string[]) => timelineWhere(conversation, timeline => texts.every(text => timeline.some(item => item.text === text)))

describe('three nodes on the relay core (the default with --redis and --postgres), one Redis, one PostgreSQL', () => {
  let redis: RedisProcess
  let database: PostgresTestDatabase
  let nodes: ServerProcess[] = []
  const clients: ParleyClient[] = []

  async function connect(user: string, servers: ServerProcess[]): Promise<ParleyClient> {
    const client = await createClient({ server: servers.map(node => node.url), token: () => servers[0]!.token(user), storage: { kind: 'memory' }, reconnect: TEST_RECONNECT })
    clients.push(client)
    return client
  }

  beforeAll(async () => {
    redis = await RedisProcess.start()
    database = await createTestDatabase()
    const args = ['--redis', redis.url, '--postgres', database.url, '--cluster-heartbeat-ms', '200']
    nodes = await Promise.all([0, 1, 2].map(() => ServerProcess.start(args)))
    while ((await Promise.all(nodes.map(health))).some(h => h.cluster.nodes !== 2)) await new Promise(resolve => setTimeout(resolve, 50))
  })
  afterAll(async () => {
    await Promise.all(clients.map(client => client.close()))
    await Promise.all(nodes.map(node => node.stop()))
    await redis?.stop()
    await database?.drop()
  })

  it('carries messages between clients of two nodes, leaves the third alone, and survives the first killed with SIGKILL', async () => {
    const [one, two, three] = nodes as [ServerProcess, ServerProcess, ServerProcess]
    // Alice knows nodes 1 and 3; she starts on node 1.
    const alice = await connect('alice', [one, three])
    const bob = await connect('bob', [two])
    const conversation = await alice.createConversation({ title: 'processes', members: ['bob'] })
    await conversation.send('hello from node 1')
    await alice.sync()
    const bobs = await bob.conversation(conversation.id)
    await holds(bobs, ['hello from node 1'])
    await expect.poll(() => metric(two, 'parley_bus_subscriptions')).toBe(1)

    for (let i = 0; i < 5; i++) {
      const there = holds(bobs, [`alice ${i}`])
      await conversation.send(`alice ${i}`)
      await there
      const back = holds(conversation, [`bob ${i}`])
      await bobs.send(`bob ${i}`)
      await back
    }
    expect(await metric(one, 'parley_bus_change_frames_total{direction="received"}')).toBeGreaterThanOrEqual(5)
    expect(await metric(two, 'parley_bus_change_frames_total{direction="received"}')).toBeGreaterThanOrEqual(5)
    // Node 3 has no client: no segment, no subscription, no frame.
    expect(await metric(three, 'parley_relay_segments_loaded')).toBe(0)
    expect(await metric(three, 'parley_bus_subscriptions')).toBe(0)
    expect(await metric(three, 'parley_bus_change_frames_total{direction="received"}')).toBe(0)

    // A long poll on node 3 listens on the conversation while it waits, and wakes for bob's message.
    const path = `http://127.0.0.1:${three.port}/v1/conversations/${conversation.id}/events`
    const get = async (query: string) => (await (await fetch(`${path}?${query}`, { headers: { authorization: `Bearer ${await three.token('alice')}` } })).json()) as { events: { seq: number; text?: string }[]; next: number }
    const { next } = await get('after=0&limit=500')
    const poll = get(`after=${next}&wait=30`)
    await expect.poll(() => metric(three, 'parley_bus_subscriptions')).toBe(1)
    await bobs.send('bob to the poll on node 3')
    expect((await poll).events).toEqual([expect.objectContaining({ seq: next + 1, text: 'bob to the poll on node 3' })])
    await expect.poll(() => metric(three, 'parley_bus_subscriptions')).toBe(0)

    // Node 1 dies; alice's client moves to node 3, which now loads the segment and listens.
    await one.kill('SIGKILL')
    const sent = [...Array.from({ length: 3 }, (_, i) => `after the kill ${i}`)]
    for (const text of sent) await conversation.send(text)
    await holds(bobs, sent)
    await expect.poll(() => metric(three, 'parley_bus_subscriptions')).toBe(1)
    expect(await metric(three, 'parley_relay_segments_loaded')).toBeGreaterThan(0)
    const reply = holds(conversation, ['bob after the kill'])
    await bobs.send('bob after the kill')
    await reply

    // Bob leaves: node 2 lets go of the channel.
    await bob.close()
    await expect.poll(() => metric(two, 'parley_bus_subscriptions')).toBe(0)
  })
})
