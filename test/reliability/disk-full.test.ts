/**
 * Disk full: the data directory lives on a small tmpfs that the test fills. The server
 * says so (log, metric, /readyz 503, /healthz ready: false), keeps relaying to the
 * clients connected to it, refuses nothing silently, and once space returns puts every
 * held write on disk by itself; no client loses a message it wrote.
 */
import { next as Automerge } from '@automerge/automerge'
import type { ParleyClient } from '@parley/client'
import { RawClient } from '@parley/sync-server/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ServerProcess } from '../support/server-process.ts'
import { timelineWhere } from '../support/timeline.ts'
import { allTexts, connectClient, metricValue, scrape } from './support/clients.ts'
import { eventually, step } from './support/random.ts'
import { recordResult } from './support/results.ts'
import { mountSmallDisk, type SmallDisk } from './support/small-disk.ts'
import { checkStoredDocuments } from './support/storage-check.ts'

const disk = await mountSmallDisk(24)
const [, INITIAL_SYNC] = Automerge.generateSyncMessage(Automerge.init(), Automerge.initSyncState())

describe.skipIf(disk === undefined)('a full disk under the data directory (tmpfs)', () => {
  let server: ServerProcess
  const clients: ParleyClient[] = []
  beforeAll(async () => {
    server = await ServerProcess.start(['--storage-retry-ms', '200'], { dataDir: (disk as SmallDisk).dir })
  })
  afterAll(async () => {
    await Promise.all(clients.map(client => client.close()))
    await server?.kill('SIGKILL')
    await disk?.unmount()
  })

  const httpUrl = (): string => `http://127.0.0.1:${server.port}`

  it('reports it, refuses nothing silently, and writes everything once space returns', async () => {
    const alice = await connectClient(server, 'alice')
    const bob = await connectClient(server, 'bob')
    clients.push(alice, bob)
    const conversation = await alice.createConversation({ members: ['bob'] })
    const texts: string[] = []
    const send = async (text: string): Promise<void> => {
      texts.push(text)
      await conversation.send(text)
    }
    for (let i = 0; i < 10; i++) await send(`before ${i}`)
    await alice.sync()
    await bob.sync()
    const bobs = await bob.conversation(conversation.id)
    await step('bob to see the first messages', timelineWhere(bobs, timeline => timeline.length === texts.length))
    expect((await fetch(`${httpUrl()}/readyz`)).status).toBe(200)

    const filled = await disk!.fill()
    const fullAt = performance.now()
    // Each message carries some weight so the writes cannot fit in what little is left.
    for (let i = 0; i < 40; i++) await send(`while full ${i} ${'x'.repeat(2000)}`)
    await eventually('the server to report storage failing', async () => (await fetch(`${httpUrl()}/readyz`)).status === 503, 20_000)
    const detectedMs = performance.now() - fullAt
    const health = (await (await fetch(`${httpUrl()}/healthz`)).json()) as { status: string; ready: boolean; storage: { writable: boolean; problem?: string; heldWrites: number } }
    expect(health).toMatchObject({ status: 'ok', ready: false, storage: { writable: false } })
    // Reported by whichever notices first: a failed document write, or the free-space check.
    expect(health.storage.problem).toMatch(/No space left on device|bytes free under/)
    const metrics = await scrape(httpUrl())
    expect(metricValue(metrics, 'parley_storage_writable')).toBe(0)
    expect(metricValue(metrics, 'parley_storage_write_failures_total') >= 1 || metricValue(metrics, 'parley_storage_free_bytes') < 8 * 1024 * 1024).toBe(true)
    expect(server.log).toMatch(/storage: a write failed|storage: free space under the data directory is below the minimum/)
    for (let i = 0; i < 10; i++) await send(`still full ${i}`)

    // Nothing refused: every message Alice wrote while the disk was full reached Bob,
    // connected all along. The access registry and the event index hold their writes
    // like the documents do, so the guard's records of accepted changes never fail.
    const writtenWhileFull = texts.slice(10)
    await step('bob to get every message written while the disk was full', timelineWhere(bobs, timeline => timeline.length === texts.length), () => server.log)
    expect(server.log).not.toMatch(/message could not be checked/)

    await disk!.release()
    const releasedAt = performance.now()
    await eventually('the server to be ready again', async () => (await fetch(`${httpUrl()}/readyz`)).status === 200, 20_000)
    const recoveredMs = performance.now() - releasedAt
    // Logged as readiness returns; the line may reach this process just after /readyz's answer.
    await eventually('the server to log that storage is back', () => /storage: writable again|storage: free space is back/.test(server.log), 5_000)

    await alice.sync({ timeout: 15_000 })
    // A conversation created after the failure: its access entries go to the registry's LevelDB after the torn record.
    const later = await alice.createConversation({ members: ['bob'] })
    await later.send('after the disk filled up once')
    await alice.sync({ timeout: 30_000 })

    // Bob, connected all along, has everything.
    await bob.sync({ timeout: 30_000 })
    await step('bob to have everything once space is back', timelineWhere(bobs, timeline => timeline.length === texts.length), () => server.log)

    // Everything is on the server's disk: killed without a flush, its database holds every message.
    await server.kill('SIGKILL')
    const stored = await checkStoredDocuments(disk!.dir)
    expect(stored.corrupt).toEqual([])
    expect(stored.unloadable).toEqual([])
    expect(texts.filter(text => !stored.texts.has(text))).toEqual([])
    await server.restart()
    const fresh = await connectClient(server, 'bob')
    clients.push(fresh)
    await fresh.sync({ timeout: 30_000 })
    expect(await allTexts(await fresh.conversation(conversation.id))).toEqual(texts)
    // Access rules survived too: someone who is not a member can read neither the
    // conversation from before nor the one created after the failure, whose registry
    // entries were written after the torn log record (held, then written to a fresh log).
    const mallory = await RawClient.open({ url: `${server.url}/sync`, token: () => server.token('mallory') }, 'mallory')
    const { senderId } = await mallory.join('mallory-probe')
    const readable: Record<string, string> = {}
    for (const [name, id] of [['before', conversation.id], ['after', later.id]] as const) {
      mallory.send({ type: 'request', senderId: 'mallory-probe', targetId: senderId, documentId: id, data: INITIAL_SYNC })
      readable[name] = String((await mallory.next(message => message.documentId === id)).type)
    }
    expect(readable).toEqual({ before: 'doc-unavailable', after: 'doc-unavailable' })
    mallory.socket.close()
    await recordResult('disk-full', {
      tmpfsMiB: 24,
      fillerBytes: filled,
      detectedMs: Math.round(detectedMs),
      recoveredMs: Math.round(recoveredMs),
      heldWritesAtReport: health.storage.heldWrites,
      messages: texts.length,
      writtenWhileFull: writtenWhileFull.length,
      relayedWhileFull: writtenWhileFull.length,
      nonMemberAnswerForConversationCreatedAfterFailure: readable.after,
    })
  })
})
