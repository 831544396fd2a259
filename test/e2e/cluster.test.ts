/**
 * The deployment of deploy/README.md, for real: three parley-server processes on one
 * redis-server, behind nginx running deploy/nginx.conf. Clients connected through nginx
 * land on different nodes and talk across them; a node killed with SIGKILL loses nothing
 * that reached another node or a client, and its clients carry on elsewhere — through
 * nginx, or through the client library's own list of servers.
 */
import type { Conversation, ParleyClient } from '@parley/client'
import { createClient } from '@parley/client'
import { RedisProcess } from '@parley/sync-server/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_RECONNECT } from '../support/clients.ts'
import { NginxProcess } from '../support/nginx-process.ts'
import { ServerProcess } from '../support/server-process.ts'
import { timelineWhere } from '../support/timeline.ts'

const NODE_ARGS = (redis: RedisProcess) => ['--redis', redis.url, '--cluster-heartbeat-ms', '200', '--max-connections-per-ip', '10000']

async function health(node: ServerProcess): Promise<{ connections: number; cluster: { connected: boolean; nodes: number } }> {
  return (await fetch(`http://127.0.0.1:${node.port}/healthz`)).json() as never
}

const textsOf = (conversation: Conversation) => conversation.timeline().map(item => item.text)
const holdsAll = (conversation: Conversation, texts: string[]) => timelineWhere(conversation, timeline => texts.every(text => timeline.some(item => item.text === text)))

describe('three nodes, one Redis, nginx in front', () => {
  let redis: RedisProcess
  let nodes: ServerProcess[] = []
  let nginx: NginxProcess
  const clients: ParleyClient[] = []

  async function connect(user: string, server: string | string[], via: ServerProcess): Promise<ParleyClient> {
    const client = await createClient({ server, token: () => via.token(user), storage: { kind: 'memory' }, reconnect: TEST_RECONNECT })
    clients.push(client)
    if (client.status !== 'online') await new Promise<void>(resolve => client.on('status', status => status === 'online' && resolve()))
    return client
  }

  beforeAll(async () => {
    redis = await RedisProcess.start()
    nodes = await Promise.all([0, 1, 2].map(() => ServerProcess.start(NODE_ARGS(redis))))
    nginx = await NginxProcess.start(nodes.map(node => node.port))
    // Every node in a session with the other two.
    while ((await Promise.all(nodes.map(health))).some(h => h.cluster.nodes !== 2)) await new Promise(resolve => setTimeout(resolve, 50))
  })
  afterAll(async () => {
    await Promise.all(clients.map(client => client.close()))
    await nginx?.stop()
    await Promise.all(nodes.map(node => node.stop()))
    await redis?.stop()
  })

  it('spreads clients over the nodes, carries messages across them, survives a node killed with SIGKILL, and takes it back', async () => {
    const [one] = nodes as [ServerProcess]
    const alice = await connect('alice', nginx.url, one)
    const bob = await connect('bob', nginx.url, one)
    const carol = await connect('carol', nginx.url, one)
    // least_conn: three sockets, three nodes.
    expect((await Promise.all(nodes.map(health))).map(h => h.connections)).toEqual([1, 1, 1])

    const conversation = await alice.createConversation({ title: 'cluster', members: ['bob', 'carol'] })
    await conversation.send('hello from alice')
    await alice.sync()
    await bob.sync()
    const bobs = await bob.conversation(conversation.id)
    const carols = await carol.conversation(conversation.id)
    await holdsAll(bobs, ['hello from alice'])
    const aliceHears = holdsAll(conversation, ['bob answers'])
    const carolHears = holdsAll(carols, ['bob answers'])
    await bobs.send('bob answers')
    await Promise.all([aliceHears, carolHears])

    // A fourth client without nginx: it knows every node and starts on the first.
    const dave = await connect('dave', nodes.map(node => node.url), one)
    expect((await health(one)).connections).toBe(2)
    await conversation.send('dave joins') // (dave is not a member: he only proves failover below)

    // Everyone writes; node 1 is killed in the middle of it.
    const written: string[] = []
    const writers = [conversation, bobs, carols]
    for (let round = 0; round < 10; round++) {
      if (round === 5) await one.kill('SIGKILL')
      for (const [i, writer] of writers.entries()) {
        const text = `round ${round} from ${['alice', 'bob', 'carol'][i]}`
        written.push(text)
        await writer.send(text)
      }
    }
    // Its clients reconnect (nginx skips the dead node; dave's list moves on) and carry on.
    const everything = ['hello from alice', 'bob answers', 'dave joins', ...written]
    await Promise.all(writers.map(writer => holdsAll(writer, everything)))
    for (const writer of writers) expect(textsOf(writer).sort()).toEqual([...everything].sort())
    await expect.poll(() => dave.status, { timeout: 10_000 }).toBe('online')
    const daveConversation = await dave.createConversation({ title: 'after the kill', members: ['alice'] })
    await daveConversation.send('dave is back')
    await dave.sync({ timeout: 30_000 }) // a reconnect after the kill may wait out the backoff and a 5 s locate of the dead node
    const alicesCopy = await alice.conversation(daveConversation.id)
    await holdsAll(alicesCopy, ['dave is back'])
    // The survivors dropped the dead node from their sessions.
    await expect.poll(async () => (await Promise.all(nodes.slice(1).map(health))).map(h => h.cluster.nodes), { timeout: 10_000 }).toEqual([1, 1])

    // Node 1 comes back on its own data, rejoins, and serves everything written while it was dead.
    await one.restart()
    await expect.poll(async () => (await Promise.all(nodes.map(health))).map(h => h.cluster.nodes), { timeout: 10_000 }).toEqual([2, 2, 2])
    const carolAgain = await connect('carol', one.url, one)
    const carolsAgain = await carolAgain.conversation(conversation.id)
    await holdsAll(carolsAgain, everything)
  })
})
