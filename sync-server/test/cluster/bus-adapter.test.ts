/**
 * The Redis bus adapter against automerge-repo's own network adapter acceptance suite,
 * and what the suite does not cover: dropping a silent node, starting over with a node
 * that reconnected, publishing a fanned-out message once, queries, and a lost link.
 */
import { generateAutomergeUrl, parseAutomergeUrl, type Message, type PeerId } from '@automerge/automerge-repo'
import { runNetworkAdapterTests } from '@automerge/automerge-repo/helpers/tests/network-adapter-tests.js'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RedisBusAdapter, type BusAdapterOptions } from '../../src/cluster/bus-adapter.ts'
import { busClock, channels, encodeFrame } from '../../src/cluster/bus-frames.ts'
import { RedisProcess } from '../../src/cluster/redis-process.ts'

let redis: RedisProcess
let prefixes = 0
const open: RedisBusAdapter[] = []

/** Every test gets its own channel prefix, so adapters of different tests never meet. */
function adapter(prefix: string, options: Partial<BusAdapterOptions> = {}): RedisBusAdapter {
  const created = new RedisBusAdapter({ url: redis.url, prefix, heartbeatMs: 100, ...options })
  open.push(created)
  return created
}

function next<T>(emitter: RedisBusAdapter, event: 'peer-candidate' | 'peer-disconnected' | 'message'): Promise<T> {
  return new Promise(resolve => emitter.once(event, ((payload: T) => resolve(payload)) as never))
}

beforeAll(async () => {
  redis = await RedisProcess.start()
})
afterAll(async () => {
  await Promise.all(open.map(a => a.close()))
  await redis?.stop()
})

runNetworkAdapterTests(async () => {
  const prefix = `suite-${++prefixes}`
  const adapters: [RedisBusAdapter, RedisBusAdapter, RedisBusAdapter] = [adapter(prefix), adapter(prefix), adapter(prefix)]
  return { adapters, teardown: () => adapters.forEach(a => void a.close()) }
}, 'Redis bus')

describe('RedisBusAdapter beyond the acceptance suite', () => {
  /** A node faked by hand on a plain connection: says what the test tells it, then goes silent. */
  async function ghost(prefix: string) {
    const connection = new Redis(redis.url)
    const cluster = channels(prefix).cluster
    return {
      hello: (epoch: number) => connection.publish(cluster, encodeFrame({ k: 'hello', from: 'ghost' as PeerId, epoch, meta: { storageId: 'ghost-store' as never }, t: busClock() })),
      close: () => connection.quit(),
    }
  }

  it('keeps a node while it beats and drops it once it stops', async () => {
    const a = adapter('silence', { peerTimeoutMs: 1000 })
    a.connect('a' as PeerId)
    await a.whenReady()
    const fake = await ghost('silence')
    const met = next<{ peerId: string; peerMetadata: unknown }>(a, 'peer-candidate')
    await fake.hello(1)
    expect(await met).toEqual({ peerId: 'ghost', peerMetadata: { storageId: 'ghost-store' } })
    let dropped = false
    const disconnected = next<{ peerId: string }>(a, 'peer-disconnected').then(event => ((dropped = true), event))
    // Beats for half again the timeout: still a node.
    for (let beat = 0; beat < 15; beat++) {
      await new Promise(resolve => setTimeout(resolve, 100))
      await fake.hello(1)
    }
    expect(dropped).toBe(false)
    expect(a.isNode('ghost' as PeerId)).toBe(true)
    // Silent: dropped.
    expect(await disconnected).toEqual({ peerId: 'ghost' })
    expect(a.isNode('ghost' as PeerId)).toBe(false)
    await fake.close()
  })

  it('starts a new session with a node that comes back under a new epoch', async () => {
    const a = adapter('epochs', { peerTimeoutMs: 5000 })
    a.connect('a' as PeerId)
    await a.whenReady()
    const fake = await ghost('epochs')
    const events: string[] = []
    a.on('peer-candidate', ({ peerId }) => events.push(`candidate ${peerId}`))
    a.on('peer-disconnected', ({ peerId }) => events.push(`disconnected ${peerId}`))
    await fake.hello(1)
    await fake.hello(1) // a heartbeat: nothing new
    await fake.hello(2) // its link to Redis broke: it may have missed frames
    await expect.poll(() => events).toEqual(['candidate ghost', 'disconnected ghost', 'candidate ghost'])
    await fake.close()
  })

  it('publishes a message for several nodes once, on the document channel', async () => {
    const published: string[] = []
    const metrics = { published: (_bytes: number, kind: string) => published.push(kind), received() {}, dropped() {}, lag() {}, reconnecting() {}, peers() {} }
    const a = adapter('fan', { metrics })
    const b = adapter('fan')
    const c = adapter('fan')
    const meetings = Promise.all([next(b, 'peer-candidate'), next(c, 'peer-candidate')])
    a.connect('a' as PeerId)
    b.connect('b' as PeerId)
    c.connect('c' as PeerId)
    await Promise.all([a.whenReady(), b.whenReady(), c.whenReady(), meetings])
    await expect.poll(() => a.nodes.sort()).toEqual(['b', 'c'])
    const documentId = parseAutomergeUrl(generateAutomergeUrl()).documentId
    const data = new Uint8Array([1, 2, 3])
    // b and c each say something about the document first: then a knows they listen to its channel.
    const heard = new Promise<void>(resolve => {
      let count = 0
      a.on('message', () => ++count === 2 && resolve())
    })
    b.send({ type: 'sync', senderId: 'b' as PeerId, targetId: 'a' as PeerId, documentId, data })
    c.send({ type: 'sync', senderId: 'c' as PeerId, targetId: 'a' as PeerId, documentId, data })
    await heard
    const received = Promise.all([next<Message>(b, 'message'), next<Message>(c, 'message')])
    const before = published.length
    a.send({ type: 'sync', senderId: 'a' as PeerId, targetId: 'b' as PeerId, documentId, data })
    a.send({ type: 'sync', senderId: 'a' as PeerId, targetId: 'c' as PeerId, documentId, data })
    const [toB, toC] = await received
    expect(published.slice(before).filter(kind => kind !== 'hello')).toEqual(['fan'])
    expect(toB).toMatchObject({ type: 'sync', senderId: 'a', targetId: 'b', documentId })
    expect(toC).toMatchObject({ type: 'sync', senderId: 'a', targetId: 'c', documentId })
    expect([...toB.data!]).toEqual([1, 2, 3])
  })

  it('asks every node a question and gathers the answers', async () => {
    const [a, b, c] = [adapter('query'), adapter('query'), adapter('query')]
    b.answer('double', body => (body as number) * 2)
    c.answer('double', body => (body as number) * 2 + 1)
    a.connect('a' as PeerId)
    b.connect('b' as PeerId)
    c.connect('c' as PeerId)
    await Promise.all([a.whenReady(), b.whenReady(), c.whenReady()])
    await expect.poll(() => a.nodes.length).toBe(2)
    expect(((await a.query('double', 21, { timeoutMs: 2000 })) as number[]).sort()).toEqual([42, 43])
    // `enough` settles on the first answer that will do.
    expect(await a.query('double', 1, { timeoutMs: 5000, enough: answers => answers.length > 0 })).toHaveLength(1)
  })

  it('ends every session when Redis goes away, and meets the nodes again when it is back', async () => {
    const [a, b] = [adapter('outage'), adapter('outage')]
    a.connect('a' as PeerId)
    b.connect('b' as PeerId)
    await expect.poll(() => a.nodes).toEqual(['b'])
    const lost = next(a, 'peer-disconnected')
    await redis.kill()
    await lost
    expect(a.connected).toBe(false)
    // Sending while the link is down drops the frame instead of queueing it.
    a.send({ type: 'sync', senderId: 'a' as PeerId, targetId: 'b' as PeerId, documentId: parseAutomergeUrl(generateAutomergeUrl()).documentId, data: new Uint8Array([1]) })
    const found = next(a, 'peer-candidate')
    await redis.restart()
    await found
    expect(a.nodes).toEqual(['b'])
  })
})
