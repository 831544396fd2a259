/**
 * The relay core (`--relay-core`, sync-server/src/relay/hub.ts): segments served from
 * change logs. The SDK and a stock automerge-repo client exchange messages through it,
 * a client that was offline catches up, the access rules hold on this path, and what it
 * stores is served after a restart, by the relay core and by the repo path (`--no-relay-core`).
 */
import { next as A } from '@automerge/automerge'
import { Repo, type DocumentId } from '@automerge/automerge-repo'
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import { appendEvent, readHead, readSegmentEvents, type HeadDoc, type SegmentDoc } from '@parley/core'
import { RawClient, startTestServer, stopStockAdapter } from '@parley/sync-server/testing'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ClientPool } from '../support/clients.ts'
import { ServerProcess } from '../support/server-process.ts'
import { timelineWhere } from '../support/timeline.ts'

const texts = (items: { text?: string }[]): (string | undefined)[] => items.map(item => item.text)

describe('the relay core (--relay-core) on a real server process', () => {
  let server: ServerProcess
  const pool = new ClientPool()
  const repos: Repo[] = []
  beforeAll(async () => (server = await ServerProcess.start(['--relay-core'])))
  afterAll(async () => {
    for (const repo of repos) for (const adapter of repo.networkSubsystem.adapters) stopStockAdapter(adapter)
    await pool.closeAll()
    await server?.stop()
  })

  async function stockRepo(user: string): Promise<{ repo: Repo; closed: Promise<{ code: number; reason: string }> }> {
    const adapter = new WebSocketClientAdapter(`${server.url}/sync?token=${await server.token(user)}`)
    const repo = new Repo({ network: [adapter] })
    repos.push(repo)
    await adapter.whenReady()
    const socket = (adapter as unknown as { socket: { once(event: 'close', listener: (code: number, reason: Buffer) => void): void } }).socket
    const closed = new Promise<{ code: number; reason: string }>(resolve => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
    return { repo, closed }
  }

  it('the SDK and a stock automerge-repo client exchange messages in real time', async () => {
    const alice = await pool.connect(server, 'alice')
    const conversation = await alice.createConversation({ title: 'relay', members: ['bob'] })
    await conversation.send('hello from the SDK')
    await alice.sync()

    const { repo } = await stockRepo('bob')
    const head = await repo.find<HeadDoc>(conversation.id as DocumentId)
    const segment = await repo.find<SegmentDoc>(readHead(head.doc()).segments[0] as DocumentId)
    expect(readSegmentEvents(segment.doc()).events.map(event => (event.type === 'message' ? event.text : event.type))).toEqual(['hello from the SDK'])

    for (let i = 0; i < 10; i++) {
      const seen = timelineWhere(conversation, items => items.some(item => item.id === `stock-${i}`))
      segment.change(doc => appendEvent(doc, { id: `stock-${i}`, type: 'message', author: 'bob', device: 'stock', at: Date.now(), text: `stock ${i}` }))
      await seen
      const back = new Promise<void>(resolve => {
        const check = (): void => {
          if (!readSegmentEvents(segment.doc()).events.some(event => event.type === 'message' && event.text === `sdk ${i}`)) return
          segment.off('change', check)
          resolve()
        }
        segment.on('change', check)
      })
      await conversation.send(`sdk ${i}`)
      await back
    }
    expect(texts(conversation.timeline())).toHaveLength(21)
  })

  it('a client offline while others write catches up when it reconnects', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-relay-offline-'))
    try {
      const alice = await pool.connect(server, 'alice')
      const conversation = await alice.createConversation({ title: 'offline', members: ['carol'] })
      await conversation.send('before')
      await alice.sync()
      const carol = await pool.connect(server, 'carol', { dir })
      await carol.sync()
      expect(texts((await carol.conversation(conversation.id)).timeline())).toEqual(['before'])
      await carol.close()

      for (let i = 0; i < 5; i++) await conversation.send(`while away ${i}`)
      await alice.sync()

      const again = await pool.connect(server, 'carol', { dir })
      await again.sync()
      const timeline = await timelineWhere(await again.conversation(conversation.id), items => items.length === 6)
      expect(texts(timeline)).toEqual(['before', ...[0, 1, 2, 3, 4].map(i => `while away ${i}`)])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('refuses a forged author with 4403', async () => {
    const alice = await pool.connect(server, 'alice')
    const conversation = await alice.createConversation({ title: 'forgery', members: ['bob'] })
    await alice.sync()
    const { repo, closed } = await stockRepo('bob')
    const head = await repo.find<HeadDoc>(conversation.id as DocumentId)
    const segment = await repo.find<SegmentDoc>(readHead(head.doc()).segments[0] as DocumentId)
    segment.change(doc => appendEvent(doc, { id: 'forged', type: 'message', author: 'alice', device: 'stock', at: Date.now(), text: 'I am alice' }))
    expect(await closed).toEqual({ code: 4403, reason: expect.stringContaining('names alice as author') })
    await alice.sync()
    expect(texts(conversation.timeline())).toEqual([])
  })

  it('refuses an append from a non-member with 4403', async () => {
    const alice = await pool.connect(server, 'alice')
    const conversation = await alice.createConversation({ title: 'members only', members: ['bob'] })
    await conversation.send('private')
    await alice.sync()
    const segmentId = conversation.head().segments[0]!
    const mallory = await RawClient.open({ url: `${server.url}/sync`, token: user => server.token(user) }, 'mallory')
    const peer = await mallory.join('mallory-peer')
    // Any change at all: she may not write to a conversation she is not in.
    const change = A.getLastLocalChange(A.change(A.init<{ n: number }>(), doc => (doc.n = 1)))!
    mallory.send({ type: 'sync', senderId: 'mallory-peer', targetId: peer.senderId, documentId: segmentId, data: A.encodeSyncMessage({ heads: [], need: [], have: [], changes: [change] }) })
    expect(await mallory.closedWithin(5_000)).toEqual({ code: 4403, reason: expect.stringContaining('not a member') })
  })

  it('what it stores survives a restart, and a server on the repo path (--no-relay-core) serves it from the same data', async () => {
    const own = await ServerProcess.start(['--relay-core'])
    const plain: ServerProcess[] = []
    const clients = new ClientPool()
    try {
      const alice = await clients.connect(own, 'alice')
      const conversation = await alice.createConversation({ title: 'durable', members: ['bob'] })
      for (let i = 0; i < 3; i++) await conversation.send(`kept ${i}`)
      await alice.sync()
      await clients.closeAll()
      await own.kill('SIGTERM')

      await own.restart()
      const bob = await clients.connect(own, 'bob')
      await bob.sync()
      expect(texts(await timelineWhere(await bob.conversation(conversation.id), items => items.length === 3))).toEqual(['kept 0', 'kept 1', 'kept 2'])
      await clients.closeAll()
      await own.kill('SIGTERM')

      plain.push(await ServerProcess.start(['--no-relay-core'], { dataDir: own.dataDir }))
      const reader = await clients.connect(plain[0]!, 'bob')
      await reader.sync()
      expect(texts(await timelineWhere(await reader.conversation(conversation.id), items => items.length === 3))).toEqual(['kept 0', 'kept 1', 'kept 2'])
    } finally {
      await clients.closeAll()
      for (const server of plain) await server.kill()
      await own.stop()
    }
  })
})

describe('the relay core in process', () => {
  const pool = new ClientPool()
  afterEach(() => pool.closeAll())
  const endpointOf = (test: Awaited<ReturnType<typeof startTestServer>>) => ({ url: test.url.replace(/\/sync$/, ''), token: (user: string) => test.token(user) }) as unknown as ServerProcess

  it('serves data written on the repo path (relayCore: false), and writes on top of it', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-relay-upgrade-'))
    try {
      const before = await startTestServer({ dataDir, relayCore: false })
      const alice = await pool.connect(endpointOf(before), 'alice')
      const conversation = await alice.createConversation({ title: 'written by the repo', members: ['bob'] })
      for (let i = 0; i < 3; i++) await conversation.send(`old ${i}`)
      await alice.sync()
      await pool.closeAll()
      await before.close()

      const after = await startTestServer({ dataDir, relayCore: true })
      try {
        const bob = await pool.connect(endpointOf(after), 'bob')
        await bob.sync()
        const bobs = await bob.conversation(conversation.id)
        expect(texts(await timelineWhere(bobs, items => items.length === 3))).toEqual(['old 0', 'old 1', 'old 2'])
        await bobs.send('new on the relay core')
        await bob.sync()
        const carol = await pool.connect(endpointOf(after), 'alice')
        await carol.sync()
        expect(texts(await timelineWhere(await carol.conversation(conversation.id), items => items.length === 4))).toEqual(['old 0', 'old 1', 'old 2', 'new on the relay core'])
      } finally {
        await pool.closeAll()
        await after.close()
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  })

  it('serves segments without the repo ever holding one, and HTTP publish writes through it', async () => {
    const test = await startTestServer({ relayCore: true })
    try {
      const endpoint = endpointOf(test)
      const alice = await pool.connect(endpoint, 'alice')
      const bob = await pool.connect(endpoint, 'bob')
      const conversation = await alice.createConversation({ title: 'in process', members: ['bob'] })
      await conversation.send('over sync')
      await alice.sync()
      await bob.sync()
      const bobs = await bob.conversation(conversation.id)
      const published = timelineWhere(bobs, items => items.some(item => item.text === 'over http'))
      const response = await fetch(`${test.httpUrl}/v1/conversations/${conversation.id}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await test.token('alice')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'over http' }),
      })
      expect(response.status).toBe(201)
      expect(texts(await published)).toEqual(['over sync', 'over http'])
      // The repo holds the head; no segment document ever reaches it. (A client's first,
      // change-less message for a segment it creates, before the head registers it, still
      // meets the repo, which keeps a handle that never loads: documents/eviction.ts drops it.)
      const handles = test.server.repo.handles as Record<string, { isReady(): boolean } | undefined>
      expect(handles[conversation.id]?.isReady()).toBe(true)
      for (const segmentId of conversation.head().segments) expect(handles[segmentId]?.isReady() ?? false).toBe(false)
    } finally {
      await pool.closeAll()
      await test.close()
    }
  })
})
