/**
 * Cross-node one-to-one messages on three in-process nodes sharing Redis and PostgreSQL
 * (alice on node 1, bob on node 2, node 3 idle), segments on the relay core over the
 * segment bus (the default) against the repo bus (`--no-relay-core`), in one run: bus frames
 * published per message by all nodes (heartbeats aside) and send → bob's timeline latency.
 * node --import tsx --conditions=@parley/source sync-server/test/measure/segment-bus.ts [messages]
 */
import { createClient, type Conversation, type TimelineItem } from '@parley/client'
import { createTestDatabase, RedisProcess, startTestServer, type TestServer } from '../../src/testing.ts'
import { meshed, metric } from '../cluster/nodes.ts'

const MESSAGES = Number(process.argv[2] ?? 200)

function seen(conversation: Conversation, text: string): Promise<void> {
  return new Promise(resolve => {
    let done = false
    const stop = conversation.subscribe((items: TimelineItem[]) => {
      if (done || !items.some(item => item.text === text)) return
      done = true
      queueMicrotask(() => stop())
      resolve()
    })
  })
}

async function frames(nodes: TestServer[]): Promise<number> {
  let total = 0
  for (const node of nodes) {
    for (const kind of ['msg', 'fan', 'query', 'answer', 'bye']) total += await metric(node, `parley_bus_messages_total{direction="published",kind="${kind}"}`)
    total += await metric(node, 'parley_bus_change_frames_total{direction="published"}')
  }
  return total
}

async function run(relayCore: boolean): Promise<{ framesPerMessage: number; p50: number; p90: number; idleNodeFrames: number }> {
  const database = await createTestDatabase()
  const redis = await RedisProcess.start()
  const nodes: TestServer[] = []
  for (let i = 0; i < 3; i++) nodes.push(await startTestServer({ redis: redis.url, postgres: database.url, clusterHeartbeatMs: 1000, relayCore }))
  await meshed(nodes)
  const [one, two, three] = nodes as [TestServer, TestServer, TestServer]
  const alice = await createClient({ server: one.url, token: () => one.token('alice'), storage: { kind: 'memory' } })
  const bob = await createClient({ server: two.url, token: () => two.token('bob'), storage: { kind: 'memory' } })
  try {
    const conversation = await alice.createConversation({ title: 'measure', members: ['bob'] })
    await conversation.send('warm up')
    await alice.sync()
    const bobs = await bob.conversation(conversation.id)
    await seen(bobs, 'warm up')
    for (let i = 0; i < 10; i++) {
      const there = seen(bobs, `warm ${i}`)
      await conversation.send(`warm ${i}`)
      await there
    }
    const before = await frames(nodes)
    const idleBefore = await frames([three])
    const latencies: number[] = []
    for (let i = 0; i < MESSAGES; i++) {
      const there = seen(bobs, `m ${i}`)
      const start = performance.now()
      await conversation.send(`m ${i}`)
      await there
      latencies.push(performance.now() - start)
    }
    await new Promise(resolve => setTimeout(resolve, 300))
    const framesPerMessage = ((await frames(nodes)) - before) / MESSAGES
    latencies.sort((a, b) => a - b)
    return { framesPerMessage, p50: latencies[Math.floor(MESSAGES / 2)]!, p90: latencies[Math.floor(MESSAGES * 0.9)]!, idleNodeFrames: (await frames([three])) - idleBefore }
  } finally {
    await Promise.all([alice.close(), bob.close()])
    await Promise.all(nodes.map(node => node.close()))
    await redis.stop()
    await database.drop()
  }
}

const repo = await run(false)
const relay = await run(true)
console.log(JSON.stringify({ messages: MESSAGES, repoBus: repo, segmentBus: relay }, null, 2))
