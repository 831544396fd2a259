/**
 * A cluster on the relay core under faults (issue 16, "Tests"; docs/cluster.md, "Segments
 * over the bus"): three parley-server processes with `--redis`, `--postgres` and
 * `--relay-core`, alice, bob and carol writing on nodes 1, 2 and 3 into two conversations
 * that dave (never connected) also belongs to, so every message is a webhook. Node 2
 * reaches Redis through a proxy that can lose its segment frames. While they write: a node
 * is killed with SIGKILL, Redis is killed and restarted, frames are lost. PostgreSQL
 * stopped and started mid-writes is not among them yet: when tried, messages written
 * during the outage never reached the other nodes' clients (cluster-postgres.ts restarts
 * the private server for that case). After each, every message sent is on every replica, every
 * node numbers each conversation's events 1, 2, 3 … alike, and each message reached the
 * webhook receiver under one key. The checks are cumulative: each covers every message
 * sent since the start of the file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FaultCluster, until } from './cluster-harness.ts'
import { expectConsistent, Writers } from './cluster-writes.ts'

describe('a relay-core cluster under faults', () => {
  let cluster: FaultCluster
  let writers: Writers
  /**
   * Messages whose webhook may be lost: numbered by the node killed with SIGKILL. Its event
   * numbering (events/event-index.ts, one transaction) and its webhook enqueue
   * (webhooks/offline-members.ts on 'numbered', then the queue's batched INSERT) are two
   * writes; a node killed between them leaves the event numbered and no notification
   * queued, and no other node numbers it again. Found by this file; not fixed here.
   */
  const mayLack = new Set<string>()

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
    const open = async (client: typeof alice) => Promise.all([client.conversation(one.id), client.conversation(two.id)])
    writers = new Writers(
      [one.id, two.id],
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

  // Known gap (docs/cluster.md, limits): numbering an event and queueing its webhook are two writes, so a
  // message numbered just before its node dies may get no webhook; counted and printed, not asserted.
  it('loses no message when a node is killed with SIGKILL mid-writes (its last webhooks may be lost)', async () => {
    const [one] = cluster.nodes
    writers.start('kill')
    await written(20)
    await one!.kill('SIGKILL')
    await written(30) // alice's client moves on to node 2
    await one!.restart()
    await cluster.meshed()
    await writers.stop()
    await writers.round('after the kill')
    // alice's client was the only one on node 1.
    for (const text of [...writers.sent.values()].flatMap(set => [...set])) if (text.startsWith('alice kill #')) mayLack.add(text)
    await expectConsistent(cluster, writers, 'alice', mayLack)
    const lost = [...mayLack].filter(text => !cluster.receiver.keysByText().has(text))
    process.stdout.write(`[reliability] cluster SIGKILL: ${lost.length} of ${mayLack.size} messages numbered around the kill got no webhook${lost.length ? ` (${lost.join(', ')})` : ''}\n`)
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
    await expectConsistent(cluster, writers, 'alice', mayLack)
    // The nodes found what crossed nowhere while Redis was down by reloading from PostgreSQL.
    expect(await reloads()).toBeGreaterThan(before)
  })

  it('loses nothing when Redis drops segment frames on their way to a node', async () => {
    const two = cluster.nodes[1]!
    const gaps = await cluster.metric(two, 'parley_relay_refills_total', '{reason="gap"}')
    writers.start('dropped')
    await written(10)
    cluster.proxy!.dropping = true
    await until('frames to node 2 to be dropped', () => cluster.proxy!.dropped, dropped => dropped >= 10)
    cluster.proxy!.dropping = false
    await written(10)
    await writers.stop()
    await writers.round('after the drops')
    await expectConsistent(cluster, writers, 'alice', mayLack)
    // Node 2 saw changes whose deps it lacked and reloaded the segment.
    expect(await cluster.metric(two, 'parley_relay_refills_total', '{reason="gap"}')).toBeGreaterThan(gaps)
  })
})
