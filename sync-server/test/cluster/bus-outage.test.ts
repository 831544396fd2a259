/**
 * Redis goes away mid-conversation: each node keeps serving its own clients, reconnects
 * when Redis is back, and the automerge sync protocol fills the gap both ways.
 */
import type { DocHandle } from '@automerge/automerge-repo'
import type { SegmentDoc } from '@parley/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RedisProcess, type TestServer } from '../../src/testing.ts'
import { appendMessage, createConversationDocs, findWhenSynced, stockRepo, until, type StockClient } from '../helpers.ts'
import { meshed, metric, startNode, texts } from './nodes.ts'

describe('the bus dropped mid-conversation', () => {
  let redis: RedisProcess
  const nodes: TestServer[] = []
  const clients: StockClient[] = []

  beforeAll(async () => {
    redis = await RedisProcess.start()
    nodes.push(await startNode(redis), await startNode(redis))
    await meshed(nodes)
  })
  afterAll(async () => {
    for (const client of clients) client.close()
    await Promise.all(nodes.map(node => node.close()))
    await redis?.stop()
  })

  it('keeps each node serving its clients, then re-syncs what changed on either side', async () => {
    const [one, two] = nodes as [TestServer, TestServer]
    const alice = await stockRepo(one, 'alice')
    const carol = await stockRepo(one, 'carol')
    const bob = await stockRepo(two, 'bob')
    clients.push(alice, carol, bob)
    const { head, segment } = createConversationDocs(alice.repo, 'alice', ['bob', 'carol'])
    appendMessage(segment, 'alice', 'before the outage')
    const bobs: DocHandle<SegmentDoc> = await findWhenSynced(bob, segment.documentId)
    const carols: DocHandle<SegmentDoc> = await findWhenSynced(carol, segment.documentId)
    await until(bobs, () => texts(bobs).includes('before the outage'))
    void head

    await redis.kill()
    await expect.poll(() => metric(one, 'parley_bus_connected')).toBe(0)
    appendMessage(segment, 'alice', 'alice during the outage')
    appendMessage(bobs, 'bob', 'bob during the outage')
    // Node 1 still relays to its own clients.
    await until(carols, () => texts(carols).includes('alice during the outage'))
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(texts(bobs)).not.toContain('alice during the outage')
    expect(texts(segment)).not.toContain('bob during the outage')

    await redis.restart()
    await meshed(nodes)
    await until(bobs, () => texts(bobs).includes('alice during the outage'))
    await until(segment, () => texts(segment).includes('bob during the outage'))
    await until(carols, () => texts(carols).includes('bob during the outage'))
    expect(await metric(one, 'parley_bus_reconnects_total')).toBeGreaterThan(0)
    // And the conversation goes on across nodes as before.
    appendMessage(bobs, 'bob', 'after the outage')
    await until(segment, () => texts(segment).includes('after the outage'))
  })
})
