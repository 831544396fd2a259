/**
 * The deployment of deploy/README.md, for real: three parley-server processes sharing one
 * redis-server and one PostgreSQL database (so segments are served by the relay core and
 * cross nodes over the segment bus, the default there), behind nginx running
 * deploy/nginx.conf. Clients connected through nginx land on different nodes and talk
 * across them; a node killed with SIGKILL loses nothing that reached another node or a
 * client, and its clients carry on elsewhere — through nginx, or through the client
 * library's own list of servers. HTTP is balanced by least connections with no pinning:
 * long polls by one caller land on every node, and a cursor polled across nodes sees every
 * event once, numbered without a gap.
 */
import type { Conversation, ParleyClient, UploadState } from '@parley/client'
import { createClient, sha256Hex } from '@parley/client'
import { randomBytes } from 'node:crypto'
import { createTestDatabase, RedisProcess, type PostgresTestDatabase } from '@parley/sync-server/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_RECONNECT } from '../support/clients.ts'
import { NginxProcess } from '../support/nginx-process.ts'
import { ServerProcess } from '../support/server-process.ts'
import { timelineWhere } from '../support/timeline.ts'

const NODE_ARGS = (redis: RedisProcess, database: PostgresTestDatabase) => ['--redis', redis.url, '--postgres', database.url, '--cluster-heartbeat-ms', '200', '--max-connections-per-ip', '10000']

async function health(node: ServerProcess): Promise<{ connections: number; cluster: { connected: boolean; nodes: number } }> {
  return (await fetch(`http://127.0.0.1:${node.port}/healthz`)).json() as never
}

async function metric(node: ServerProcess, sample: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${node.port}/metrics`)).text()
  const line = text.split('\n').find(candidate => candidate.startsWith(`${sample} `))
  return line ? Number(line.slice(sample.length + 1)) : Number.NaN
}

interface ApiEvent {
  seq: number
  id: string
  type: string
  text?: string
}

const textsOf = (conversation: Conversation) => conversation.timeline().map(item => item.text)
const holdsAll = (conversation: Conversation, texts: string[]) => timelineWhere(conversation, timeline => texts.every(text => timeline.some(item => item.text === text)))

describe('three nodes, one Redis, one PostgreSQL, nginx in front', () => {
  let redis: RedisProcess
  let database: PostgresTestDatabase
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
    database = await createTestDatabase()
    nodes = await Promise.all([0, 1, 2].map(() => ServerProcess.start(NODE_ARGS(redis, database))))
    nginx = await NginxProcess.start(nodes.map(node => node.port))
    // Every node in a session with the other two.
    while ((await Promise.all(nodes.map(health))).some(h => h.cluster.nodes !== 2)) await new Promise(resolve => setTimeout(resolve, 50))
  })
  afterAll(async () => {
    await Promise.all(clients.map(client => client.close()))
    await nginx?.stop()
    await Promise.all(nodes.map(node => node.stop()))
    await redis?.stop()
    await database?.drop()
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

    // Node 1 comes back, rejoins, and serves everything written while it was dead (from PostgreSQL).
    await one.restart()
    await expect.poll(async () => (await Promise.all(nodes.map(health))).map(h => h.cluster.nodes), { timeout: 10_000 }).toEqual([2, 2, 2])
    const carolAgain = await connect('carol', one.url, one)
    const carolsAgain = await carolAgain.conversation(conversation.id)
    await holdsAll(carolsAgain, everything)
  })

  it('balances HTTP by least connections with no pinning: one caller\'s long polls on every node wake for one message under one number, and a cursor polled across nodes sees every event once, without a gap', async () => {
    const [one] = nodes as [ServerProcess]
    const token = await one.token('frank')
    const api = async (path: string): Promise<{ events: ApiEvent[]; next: number }> => {
      const response = await fetch(`${nginx.httpUrl}${path}`, { headers: { authorization: `Bearer ${token}` } })
      expect(response.status).toBe(200)
      return (await response.json()) as never
    }
    const erin = await connect('erin', nginx.url, one)
    const gina = await connect('gina', nginx.url, one)
    const conversation = await erin.createConversation({ title: 'over HTTP', members: ['frank', 'gina'] })
    await conversation.send('opening')
    await erin.sync()
    await gina.sync()
    const ginas = await gina.conversation(conversation.id)
    const events = `/v1/conversations/${conversation.id}/events`
    await expect.poll(async () => (await api(`${events}?after=0`)).events.some(event => event.text === 'opening'), { timeout: 10_000 }).toBe(true)
    const { next: start } = await api(`${events}?after=0&limit=500`)

    // Three long polls by one caller at once: one on each node (nginx's least_conn, no hash
    // of the Authorization header), each listening on the conversation for its node.
    const polls = [0, 1, 2].map(() => api(`${events}?after=${start}&wait=30`))
    // Awaited below; a failure before then is reported there, not as an unhandled rejection.
    for (const poll of polls) poll.catch(() => undefined)
    await expect.poll(() => Promise.all(nodes.map(node => metric(node, 'parley_long_polls_waiting'))), { timeout: 10_000 }).toEqual([1, 1, 1])
    await conversation.send('wakes every poll')
    for (const answer of await Promise.all(polls)) expect(answer.events).toEqual([expect.objectContaining({ seq: start + 1, text: 'wakes every poll' })])

    // Two writers on their nodes, a poller whose every request nginx may send to any node.
    const texts = Array.from({ length: 24 }, (_, i) => `${i % 2 === 0 ? 'erin' : 'gina'} ${i}`)
    const heard: ApiEvent[] = []
    const polling = (async () => {
      let cursor = start + 1
      while (texts.some(text => !heard.some(event => event.text === text))) {
        const page = await api(`${events}?after=${cursor}&limit=5&wait=10`)
        heard.push(...page.events)
        cursor = page.next
      }
    })()
    polling.catch(() => undefined)
    await Promise.all([
      (async () => {
        for (const text of texts.filter(text => text.startsWith('erin'))) await conversation.send(text)
      })(),
      (async () => {
        for (const text of texts.filter(text => text.startsWith('gina'))) await ginas.send(text)
      })(),
    ])
    await polling
    expect(heard.map(event => event.seq)).toEqual(heard.map((_, i) => start + 2 + i))
    expect(new Set(heard.map(event => event.id)).size).toBe(heard.length)
    expect(heard.filter(event => event.text !== undefined).map(event => event.text).sort()).toEqual([...texts].sort())
    // Every node lists the same numbers.
    const everywhere = await Promise.all(
      nodes.map(async node => ((await (await fetch(`http://127.0.0.1:${node.port}${events}?after=0&limit=500`, { headers: { authorization: `Bearer ${token}` } })).json()) as { events: ApiEvent[] }).events),
    )
    for (const listed of everywhere) expect(listed).toEqual(everywhere[0])
  })

  it('takes a file of several megabytes through nginx: every request of its upload reaches the node that staged it', async () => {
    const [one] = nodes as [ServerProcess]
    const hana = await connect('hana', nginx.url, one)
    const conversation = await hana.createConversation({ title: 'a file', members: ['ivan'] })
    const bytes = randomBytes(5 * 1024 * 1024)
    const hash = await sha256Hex(bytes)
    const finished = new Promise<UploadState>(resolve => {
      hana.attachments.uploads.on('upload', state => state.hash === hash && (state.status === 'done' || state.status === 'failed') && resolve(state))
    })
    await conversation.sendFile({ name: 'five.bin', bytes })
    // Without the uploads' own location, nginx refused the body (over its 1 MB default), or a
    // PATCH went to another node than the POST that created the upload, which did not know it.
    expect(await finished).toMatchObject({ status: 'done', sent: bytes.byteLength })
    // Staged and stored on one node: the others hold no such file (docs/attachments.md).
    const stored = await Promise.all(nodes.map(async node => (await fetch(`http://127.0.0.1:${node.port}/v1/blobs/${hash}?conversation=${conversation.id}`, { headers: { authorization: `Bearer ${await one.token('hana')}` } })).status))
    expect(stored.filter(status => status === 200)).toHaveLength(1)
  })
})
