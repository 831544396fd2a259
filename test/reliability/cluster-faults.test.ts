/**
 * A cluster on the relay core under faults (issue 16, "Tests"; docs/cluster.md, "Segments
 * over the bus"): three parley-server processes with `--redis`, `--postgres` and
 * `--relay-core`, alice, bob and carol writing on nodes 1, 2 and 3 into two conversations
 * that dave (never connected) also belongs to, so every message is a webhook. Node 2
 * reaches Redis through a proxy that can lose its segment frames. While they write: a node
 * is killed with SIGKILL, Redis is killed and restarted, frames are lost, PostgreSQL is
 * stopped and started (cluster-postgres.ts). After each, every message sent is on every
 * replica, every node numbers each conversation's events 1, 2, 3 … alike, and each message
 * reached the webhook receiver, under one key (however often). The checks are cumulative:
 * each covers every message sent since the start of the file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ServerProcess } from '../support/server-process.ts'
import { FaultCluster, until } from './cluster-harness.ts'
import { expectConsistent, Writers } from './cluster-writes.ts'

describe('a relay-core cluster under faults', () => {
  let cluster: FaultCluster
  let writers: Writers
  /** The two conversations' IDs. */
  let ids: string[]

  /** Lets the writers send `more` messages (they write offline too: the count is the clients'). */
  const written = (more: number) => {
    const target = writers.count + more
    return until(`${more} more messages to be written`, () => writers.count, count => count >= target)
  }

  beforeAll(async () => {
    cluster = await FaultCluster.start(3, { proxied: [1] })
    const alice = await cluster.connect('alice', [0, 1, 2])
    const bob = await cluster.connect('bob', [1, 2, 0])
    const carol = await cluster.connect('carol', [2, 0, 1])
    const one = await alice.createConversation({ title: 'one', members: ['bob', 'carol', 'dave'] })
    const two = await bob.createConversation({ title: 'two', members: ['alice', 'carol', 'dave'] })
    await Promise.all([alice.sync({ timeout: 60_000 }), bob.sync({ timeout: 60_000 })])
    ids = [one.id, two.id]
    const open = async (client: typeof alice) => Promise.all([client.conversation(one.id), client.conversation(two.id)])
    writers = new Writers(
      ids,
      [
        { user: 'alice', conversations: await open(alice) },
        { user: 'bob', conversations: await open(bob) },
        { user: 'carol', conversations: await open(carol) },
      ],
    )
    writers.start('warm-up')
    await written(30)
    await writers.stop()
    await expectConsistent(cluster, writers, 'alice')
  }, 300_000)
  afterAll(async () => {
    await writers?.stop()
    await cluster?.close()
  })

  // While it is down, a node refuses what it cannot check (the event-ID check reads PostgreSQL) by closing
  // the client's socket, and the client tries the next node; writes and numbering that fail are retried by
  // themselves (relay/log-storage.ts, events/event-index.ts), notifications queued by the next look
  // (events/notifications.ts). First in the file: the cases after it
  // expect the clients where the cluster's start put them. (A node whose registry cache is cold closes a
  // client's socket with 1011 when the registry read fails: network/server-adapter.ts #deliver,
  // sync-server/test/relay-route-failure.test.ts.)
  it('loses nothing when PostgreSQL is stopped and started mid-writes', async () => {
    writers.start('postgres')
    await written(20)
    await cluster.postgres.stop()
    await written(30)
    await cluster.postgres.restart()
    await written(20)
    await writers.stop()
    await writers.round('after postgres')
    await expectConsistent(cluster, writers, 'alice')
  })

  // A message the killed node numbered and had not queued a webhook for is listed as not notified in
  // PostgreSQL (events/notifications.ts): another node queues it after the grace period.
  it('loses no message and no webhook when a node is killed with SIGKILL mid-writes', async () => {
    const [one] = cluster.nodes
    writers.start('kill')
    await written(20)
    await one!.kill('SIGKILL')
    await written(30) // alice's client moves on to node 2
    await one!.restart()
    await cluster.meshed()
    await writers.stop()
    await writers.round('after the kill')
    await expectConsistent(cluster, writers, 'alice')
  })

  it('loses nothing when Redis is killed and restarted mid-writes', async () => {
    const reloads = async () => (await Promise.all(cluster.nodes.map(node => cluster.metric(node, 'parley_relay_refills_total', '{reason="listening"}')))).reduce((a, b) => a + b, 0)
    const before = await reloads()
    writers.start('redis')
    await written(20)
    await cluster.redis.kill()
    await written(30)
    await cluster.redis.restart()
    await cluster.meshed()
    await written(20)
    await writers.stop()
    await writers.round('after redis')
    await expectConsistent(cluster, writers, 'alice')
    // The nodes found what crossed nowhere while Redis was down by reloading from PostgreSQL.
    expect(await reloads()).toBeGreaterThan(before)
  })

  // Lost: frames another node published into the segments node 2's clients write to (node 2 holds them and
  // listens), never node 2's own frames coming back (it skips those: losing them loses nothing). The cases
  // before may have moved every client to node 2 (the kill moves alice there), so node 3 publishes over
  // HTTP too: there is always another node's frame to lose, and a later one that depends on it. They may
  // as well have moved every client off node 2 (a node that cannot check a message while PostgreSQL is down
  // closes the client's socket, and the client goes on to its next node), and a node with no client in a
  // conversation does not listen on it: a device of bob's on node 2 alone keeps it listening.
  it('loses nothing when Redis drops segment frames on their way to a node', async () => {
    const [, two, three] = cluster.nodes as [ServerProcess, ServerProcess, ServerProcess]
    const proxy = cluster.proxy!
    const listener = await cluster.connect('bob', [1])
    await Promise.all(ids.map(id => listener.conversation(id)))
    await until('node 2 to listen on both conversations', () => cluster.metric(two, 'parley_bus_subscriptions'), listening => listening >= ids.length)
    const gaps = await cluster.metric(two, 'parley_relay_refills_total', '{reason="gap"}')
    writers.start('dropped')
    await written(10)
    proxy.dropping = true
    let turn = 0
    await until(
      "10 of other nodes' frames to node 2 to be lost",
      async () => {
        await writers.publish(cluster, three, 'carol', turn++ % 2, 'dropped')
        return { dropped: proxy.dropped, listening: await cluster.metric(two, 'parley_bus_subscriptions') }
      },
      ({ dropped }) => dropped >= 10,
    )
    proxy.dropping = false
    await written(10)
    await writers.stop()
    await writers.round('after the drops')
    // Node 3's next change into each segment depends on every change it made there, the lost ones included.
    for (const index of [0, 1]) await writers.publish(cluster, three, 'carol', index, 'after the drops')
    await until('a frame that depends on a lost change to reach node 2', () => proxy.revealed, revealed => revealed > 0)
    await expectConsistent(cluster, writers, 'alice')
    // Node 2 saw changes whose deps it lacked and reloaded the segment.
    expect(await cluster.metric(two, 'parley_relay_refills_total', '{reason="gap"}')).toBeGreaterThan(gaps)
  })
})
