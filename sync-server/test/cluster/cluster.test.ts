/**
 * Two and three cluster nodes in this process on one Redis: changes cross the bus, a
 * fresh node serves conversations it never stored, membership and actor ownership hold
 * on every node, no client poses as a node, and /metrics counts the bus.
 */
import { next as Automerge } from '@automerge/automerge'
import type { AutomergeUrl, DocHandle } from '@automerge/automerge-repo'
import { appendEvent, type HeadDoc, type SegmentDoc } from '@parley/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RawClient, RedisProcess, type TestServer } from '../../src/testing.ts'
import { appendMessage, createConversationDocs, findWhenSynced, stockRepo, until, type StockClient } from '../helpers.ts'
import { http, meshed, metric, startNode, texts } from './nodes.ts'

describe('a cluster of nodes on one Redis', () => {
  let redis: RedisProcess
  const nodes: TestServer[] = []
  const clients: StockClient[] = []
  let conversation: { head: DocHandle<HeadDoc>; segment: DocHandle<SegmentDoc> }
  let bobSegment: DocHandle<SegmentDoc>

  async function client(node: TestServer, user: string): Promise<StockClient> {
    const created = await stockRepo(node, user)
    clients.push(created)
    return created
  }

  beforeAll(async () => {
    redis = await RedisProcess.start()
    nodes.push(await startNode(redis), await startNode(redis))
    await meshed(nodes)
  })
  afterAll(async () => {
    for (const created of clients) created.close()
    await Promise.all(nodes.map(node => node.close()))
    await redis?.stop()
  })

  it('carries a change written on node 1 to a member connected to node 2, and back', async () => {
    const [one, two] = nodes as [TestServer, TestServer]
    const alice = await client(one, 'alice')
    const bob = await client(two, 'bob')
    conversation = createConversationDocs(alice.repo, 'alice', ['bob', 'mallory'], 'cross-node')
    appendMessage(conversation.segment, 'alice', 'hello from node 1')
    // Node 2 never had this conversation: it gets it from node 1 over the bus.
    await findWhenSynced<HeadDoc>(bob, conversation.head.documentId)
    bobSegment = await findWhenSynced<SegmentDoc>(bob, conversation.segment.documentId)
    await until(bobSegment, doc => texts({ doc: () => doc } as never).includes('hello from node 1'))

    appendMessage(conversation.segment, 'alice', 'live from node 1')
    await until(bobSegment, () => texts(bobSegment).includes('live from node 1'))
    appendMessage(bobSegment, 'bob', 'reply from node 2')
    await until(conversation.segment, () => texts(conversation.segment).includes('reply from node 2'))
  })

  it('relays typing (ephemeral messages) from a client of node 1 to a member on node 2', async () => {
    const bobsHead = await findWhenSynced<HeadDoc>(clients[1]!, conversation.head.documentId)
    const heard = new Promise(resolve => bobsHead.on('ephemeral-message', ({ message }) => resolve(message)))
    // automerge-repo starts relaying ephemeral messages once both sides sync the document.
    await new Promise(resolve => setTimeout(resolve, 200))
    conversation.head.broadcast({ typing: 'alice' })
    expect(await heard).toEqual({ typing: 'alice' })
  })

  it('lets a fresh node serve every conversation, asking the others for what it never stored', async () => {
    const three = await startNode(redis)
    nodes.push(three)
    await meshed(nodes)
    const head = await http(three, 'bob', 'GET', `/v1/conversations/${conversation.head.documentId}`)
    expect(head.status).toBe(200)
    expect(head.body).toMatchObject({ title: 'cross-node' })
    // The node numbers the events as its segments arrive, just after the head.
    const eventTexts = async () => ((await http(three, 'bob', 'GET', `/v1/conversations/${conversation.head.documentId}/events?after=0&limit=50`)).body.events as { text?: string }[]).map(event => event.text)
    await expect.poll(eventTexts, { timeout: 5000 }).toEqual(expect.arrayContaining(['hello from node 1', 'live from node 1', 'reply from node 2']))
    // It knows who may read it, too: not a stranger.
    expect((await http(three, 'eve', 'GET', `/v1/conversations/${conversation.head.documentId}`)).status).toBe(403)
  })

  it('refuses, on node 2, a change under an actor that belongs to a user of node 1', async () => {
    const [one, two] = nodes as [TestServer, TestServer]
    const aliceActor = Automerge.getActorId(conversation.segment.doc())
    const mallory = await client(two, 'mallory')
    const segment = await findWhenSynced<SegmentDoc>(mallory, conversation.segment.documentId)
    // Mallory writes in her own name, but as Alice's device: node 1 bound that actor to Alice.
    segment.update(doc =>
      Automerge.change(Automerge.clone(doc, { actor: aliceActor }), d => appendEvent(d, { id: 'forged', type: 'message', author: 'mallory', device: 'm', at: Date.now(), text: 'as alice' })),
    )
    expect(await mallory.closed).toMatchObject({ code: 4403, reason: expect.stringMatching(/actor .* belongs to another user/) })
    expect(texts(conversation.segment)).not.toContain('as alice')
    void one
  })

  it('applies a membership change made on node 1 on every node', async () => {
    const [one, two] = nodes as [TestServer, TestServer]
    const id = conversation.head.documentId
    expect((await http(two, 'bob', 'GET', `/v1/conversations/${id}`)).status).toBe(200)
    expect((await http(one, 'alice', 'DELETE', `/v1/conversations/${id}/members/bob`)).status).toBeLessThan(300)
    for (const node of nodes) await expect.poll(async () => (await http(node, 'bob', 'GET', `/v1/conversations/${id}`)).status, { timeout: 5000 }).toBe(403)
    // Bob's live client on node 2 no longer receives the conversation.
    appendMessage(conversation.segment, 'alice', 'after bob left')
    await until(conversation.segment, () => texts(conversation.segment).includes('after bob left'))
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(texts(bobSegment)).not.toContain('after bob left')
    void two
  })

  it('refuses a client that announces a server peer ID', async () => {
    const raw = await RawClient.open(nodes[0]!, 'eve')
    await expect(raw.join('parley-server-00000000')).rejects.toThrow(/4403/)
  })

  it('counts the bus in /metrics', async () => {
    const [one] = nodes as [TestServer]
    expect(await metric(one, 'parley_bus_messages_total{direction="published",kind="hello"}')).toBeGreaterThan(0)
    expect(await metric(one, 'parley_bus_messages_total{direction="published",kind="msg"}')).toBeGreaterThan(0)
    expect(await metric(one, 'parley_bus_bytes_total{direction="received",kind="msg"}')).toBeGreaterThan(0)
    expect(await metric(one, 'parley_bus_peers')).toBe(2)
    expect(await metric(one, 'parley_bus_connected')).toBe(1)
    expect(await metric(one, 'parley_bus_lag_seconds_count')).toBeGreaterThan(0)
  })
})

export type { AutomergeUrl }
