/**
 * Three parley-server processes with `--redis`, `--postgres` and `--relay-core` (issue 16,
 * "Tests"; docs/cluster.md, "Segments over the bus"): messages, typing and membership
 * changes cross nodes; a node whose clients never opened a conversation holds none of it
 * (`/metrics`: segments loaded, conversation channels subscribed, frames received); a
 * fourth node started afterwards serves every conversation, with its whole history, to a
 * fresh device and over HTTP.
 */
import type { Conversation, ParleyClient } from '@parley/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { timelineWhere } from '../support/timeline.ts'
import { allTexts } from './support/clients.ts'
import { FaultCluster, until } from './cluster-harness.ts'

const holds = (conversation: Conversation, texts: string[]) => timelineWhere(conversation, timeline => texts.every(text => timeline.some(item => item.text === text)))
const typing = (conversation: Conversation, users: string[]) =>
  until(`typing ${JSON.stringify(users)} in ${conversation.id}`, () => conversation.typingUsers().sort(), now => now.join() === users.join())

describe('three relay-core nodes on one Redis and one PostgreSQL', () => {
  let cluster: FaultCluster
  let alice: ParleyClient
  let bob: ParleyClient

  beforeAll(async () => {
    cluster = await FaultCluster.start(3)
    alice = await cluster.connect('alice', [0])
    bob = await cluster.connect('bob', [1])
  })
  afterAll(async () => {
    await cluster?.close()
  })

  it('carries messages, typing and membership changes across nodes, and leaves the idle node empty', async () => {
    const three = cluster.nodes[2]!
    const conversation = await alice.createConversation({ title: 'across', members: ['bob'] })
    await conversation.send('hello from node 1')
    await alice.sync({ timeout: 60_000 })
    const bobs = await bob.conversation(conversation.id)
    await holds(bobs, ['hello from node 1'])
    const back = holds(conversation, ['hello from node 2'])
    await bobs.send('hello from node 2')
    await back

    // Typing: ephemeral, on the head's bus, both ways.
    conversation.setTyping(true)
    await typing(bobs, ['alice'])
    conversation.setTyping(false)
    await typing(bobs, [])
    bobs.setTyping(true)
    await typing(conversation, ['bob'])
    bobs.setTyping(false)

    // Membership: alice adds carol, whose client is on node 2; carol reads the history and writes.
    const carol = await cluster.connect('carol', [1])
    await conversation.addMember('carol')
    await until("carol's inbox to list the conversation", () => carol.conversations().map(summary => summary.id), ids => ids.includes(conversation.id))
    const carols = await carol.conversation(conversation.id)
    await holds(carols, ['hello from node 1', 'hello from node 2'])
    const heard = Promise.all([holds(conversation, ['carol joined']), holds(bobs, ['carol joined'])])
    await carols.send('carol joined')
    await heard
    // Alice removes bob: carol's copy of the head, through node 2, drops him; node 2 refuses bob.
    await conversation.removeMember('bob')
    await until("carol's copy of the head to drop bob", () => Object.keys(carols.head().members).sort(), members => members.join() === 'alice,carol')
    const onlyCarol = holds(carols, ['after bob left'])
    await conversation.send('after bob left')
    await onlyCarol
    expect((await cluster.http(cluster.nodes[1]!, 'bob', `/v1/conversations/${conversation.id}/events?after=0`)).status).toBe(403)

    // Node 3: no client ever opened the conversation, so it holds none of it and hears none of it.
    expect(await cluster.metric(three, 'parley_relay_segments_loaded')).toBe(0)
    expect(await cluster.metric(three, 'parley_bus_subscriptions')).toBe(0)
    expect(await cluster.metric(three, 'parley_bus_change_frames_total', '{direction="received"}')).toBe(0)
    expect(await cluster.metric(cluster.nodes[0]!, 'parley_bus_subscriptions')).toBe(1)
    expect(await cluster.metric(cluster.nodes[1]!, 'parley_bus_subscriptions')).toBe(1)
  })

  it('serves every conversation from a fourth node started afterwards', async () => {
    const conversations = [...alice.conversations().map(summary => summary.id)]
    const second = await alice.createConversation({ title: 'second', members: ['bob'] })
    for (let i = 0; i < 5; i++) await second.send(`second #${i}`)
    await alice.sync({ timeout: 60_000 })
    conversations.push(second.id)
    const expected = new Map<string, string[]>()
    for (const id of conversations) expected.set(id, (await allTexts(await alice.conversation(id))).sort())

    const four = await cluster.addNode()
    expect(await cluster.metric(four, 'parley_relay_segments_loaded')).toBe(0)
    // A fresh device of alice on node 4 only: it gets every conversation with its whole history.
    const fresh = await cluster.connect('alice', [cluster.nodes.indexOf(four)])
    await fresh.sync({ timeout: 60_000 })
    expect(fresh.conversations().map(summary => summary.id).sort()).toEqual([...conversations].sort())
    for (const id of conversations) expect((await allTexts(await fresh.conversation(id))).sort(), id).toEqual(expected.get(id))
    // Over HTTP too, numbered as on node 1.
    for (const id of conversations) {
      const path = `/v1/conversations/${id}/events?after=0&limit=1000`
      expect((await cluster.http(four, 'alice', path)).body).toEqual((await cluster.http(cluster.nodes[0]!, 'alice', path)).body)
    }
    // Now node 4 has a client on them: it listens, and a message from node 1 reaches it live.
    await until('node 4 to subscribe to both conversations', () => cluster.metric(four, 'parley_bus_subscriptions'), count => count === conversations.length)
    const live = holds(await fresh.conversation(second.id), ['live to node 4'])
    await second.send('live to node 4')
    await live
  })
})
