/**
 * Who is connected anywhere in a cluster (cluster/presence.ts), on a real redis-server:
 * what one node's clients do is seen by the others, a node's set expires unless renewed
 * and is written again after Redis comes back empty; and end to end, a member connected
 * to another node gets no webhook for a message another node numbered.
 */
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { ClusterPresence, presenceKey } from '../../src/cluster/presence.ts'
import { createTestDatabase, RawClient, RedisProcess, startTestServer, type TestServer } from '../../src/testing.ts'
import { Receiver } from '../fixtures/webhook-receiver.ts'
import { http, meshed, TEST_HEARTBEAT_MS } from './nodes.ts'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const log: { warn(obj: object, message: string): void } = { warn: () => undefined }

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (;;) {
    const value = await read()
    if (done(value)) return value
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

async function redisServer(): Promise<RedisProcess> {
  const redis = await RedisProcess.start()
  cleanups.push(() => redis.stop())
  return redis
}

/** A node's presence, named `self`, knowing the nodes `others`, with `local` connected to it. */
function presence(redis: RedisProcess, self: string, others: string[], local: string[] = [], logger = log): ClusterPresence {
  const made = new ClusterPresence({ url: redis.url, self: () => self, nodes: () => others, local: () => local, heartbeatMs: TEST_HEARTBEAT_MS, log: logger })
  cleanups.push(() => made.close())
  return made
}

describe('cluster presence on Redis', () => {
  it('tells a node who is connected to the others, and who left', async () => {
    const redis = await redisServer()
    const a = presence(redis, 'node-a', ['node-b'])
    const b = presence(redis, 'node-b', ['node-a'])
    // Once both are connected to Redis, what a's clients do is written and b reads it.
    await eventually(async () => (a.connected('alice'), (await b.elsewhere(['alice', 'bob'])) ?? new Set<string>()), found => found.has('alice'))
    expect(await b.elsewhere(['alice', 'bob'])).toEqual(new Set(['alice']))
    // Not its own clients: those are judged locally.
    expect(await a.elsewhere(['alice'])).toEqual(new Set())
    a.disconnected('alice')
    await eventually(() => b.elsewhere(['alice']), found => found?.size === 0)
  })

  it('lets a node\'s set expire unless its heartbeat renews it', async () => {
    const redis = await redisServer()
    presence(redis, 'node-a', [], ['carol'])
    const direct = new Redis(redis.url)
    cleanups.push(async () => direct.disconnect())
    const ttl = await eventually(() => direct.pttl(presenceKey('node-a')), value => value > 0)
    expect(ttl).toBeLessThanOrEqual(5 * TEST_HEARTBEAT_MS)
    // Renewed: the time left goes up again (it only goes down without the heartbeat).
    let lowest = ttl
    await eventually(() => direct.pttl(presenceKey('node-a')), value => value > lowest || ((lowest = Math.min(lowest, value)), false))
    expect(await direct.smembers(presenceKey('node-a'))).toEqual(['carol'])
  })

  it('writes its set again when Redis comes back without it; meanwhile it cannot say, and logs that once', async () => {
    const redis = await redisServer()
    presence(redis, 'node-a', ['node-b'], ['dave'])
    const warnings: string[] = []
    const b = presence(redis, 'node-b', ['node-a'], [], { warn: (_: object, message: string) => void warnings.push(message) })
    await eventually(() => b.elsewhere(['dave']).then(found => found ?? new Set<string>()), found => found.has('dave'))
    warnings.length = 0 // (asked before its first connection: logged then)
    await redis.kill()
    await eventually(() => b.elsewhere(['dave']), found => found === undefined)
    expect(await b.elsewhere(['dave'])).toBeUndefined()
    expect(warnings).toEqual(['cluster presence: could not ask Redis; judging "offline" by this node\'s clients'])
    await redis.restart()
    // A fresh redis-server holds nothing; node-a's set is back once it reconnects.
    await eventually(() => b.elsewhere(['dave']).then(found => found ?? new Set<string>()), found => found.has('dave'))
  })

  it('sends no webhook for a member connected to another node', async () => {
    const database = await createTestDatabase()
    cleanups.push(() => database.drop())
    const redis = await redisServer()
    const receiver = await new Receiver().start()
    cleanups.push(() => receiver.close())
    const nodes: TestServer[] = []
    for (let i = 0; i < 2; i++) {
      const node = await startTestServer({ redis: redis.url, clusterHeartbeatMs: TEST_HEARTBEAT_MS, postgres: database.url, webhookUrl: receiver.url, webhookSecret: 'cluster-webhook-secret', push: false })
      cleanups.push(() => node.close())
      nodes.push(node)
    }
    await meshed(nodes)
    const [one, two] = nodes as [TestServer, TestServer]
    // carol is connected to node 2; bob to no node.
    const carol = await RawClient.open(two, 'carol')
    cleanups.push(async () => carol.socket.close())
    await carol.join('carol-phone')
    const direct = new Redis(redis.url)
    cleanups.push(async () => direct.disconnect())
    await eventually(async () => (await Promise.all((await direct.keys(presenceKey('*'))).map(key => direct.smembers(key)))).flat(), users => users.includes('carol'))

    const created = await http(one, 'alice', 'POST', '/v1/conversations', { members: ['bob', 'carol'] })
    expect(created.status).toBe(201)
    const sent = await http(one, 'alice', 'POST', `/v1/conversations/${created.body.id as string}/messages`, { text: 'who is there?' })
    expect(sent.status).toBe(201)
    await receiver.waitFor(1)
    expect(receiver.received.map(request => request.json.recipients)).toEqual([['bob']])
  })
})
