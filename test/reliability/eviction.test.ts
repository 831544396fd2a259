/**
 * Idle documents are saved and unloaded (sync-server/src/documents/eviction.ts), and
 * nothing is lost: not what was written before the unload, not what arrives after it
 * for a document a client still has open, not what is on disk (automerge-repo
 * 2.5.6's `removeFromCache` can overwrite a stored document with an empty snapshot, upstream
 * issue #435; docs/reliability.md).
 */
import { next as Automerge } from '@automerge/automerge'
import type { DocumentId } from '@automerge/automerge-repo'
import { LevelStorageAdapter, readSegmentEvents, type SegmentDoc } from '@parley/core'
import type { ParleyClient } from '@parley/client'
import { startTestServer, type TestServer } from '@parley/sync-server/testing'
import { Level } from 'level'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { allTexts, connectClient, metricValue } from './support/clients.ts'
import { eventually } from './support/random.ts'
import { timelineWhere } from '../support/timeline.ts'

describe('idle document eviction', () => {
  const cleanup: (() => Promise<unknown>)[] = []
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step()
  })

  async function server(options: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
    const started = await startTestServer(options)
    cleanup.push(() => started.close())
    return started
  }

  async function client(at: TestServer, user: string): Promise<ParleyClient> {
    const connected = await connectClient(at, user)
    cleanup.push(() => connected.close())
    return connected
  }

  const loaded = (at: TestServer, id: string): boolean => at.server.repo.handles[id as DocumentId]?.isReady() === true
  const evictedCount = async (at: TestServer): Promise<number> => metricValue((await at.server.app.inject({ url: '/metrics' })).body, 'parley_documents_evicted_total')

  it('unloads idle documents and serves them again from storage with nothing lost, to a client that kept them open', async () => {
    const at = await server({ documentIdleMs: 300 })
    const alice = await client(at, 'alice')
    const bob = await client(at, 'bob')
    const conversation = await alice.createConversation({ members: ['bob'] })
    for (let i = 0; i < 5; i++) await conversation.send(`before ${i}`)
    await alice.sync()
    await bob.sync()
    const bobs = await bob.conversation(conversation.id)
    await timelineWhere(bobs, timeline => timeline.length === 5)

    // Both clients keep the conversation open; nobody writes: the server unloads it.
    await eventually('the conversation to be unloaded', () => !loaded(at, conversation.id), 10_000)
    expect(await evictedCount(at)).toBeGreaterThan(0)
    expect(at.server.repo.synchronizer.docSynchronizers[conversation.id as DocumentId]).toBeUndefined()

    // Alice writes again: the server loads it back and relays to Bob, who never reconnected.
    for (let i = 0; i < 5; i++) await conversation.send(`after ${i}`)
    const timeline = await timelineWhere(bobs, items => items.length === 10)
    expect(timeline.map(item => item.text)).toEqual([...Array.from({ length: 5 }, (_, i) => `before ${i}`), ...Array.from({ length: 5 }, (_, i) => `after ${i}`)])

    // A device that never saw it gets everything from the server.
    const fresh = await client(at, 'bob')
    await fresh.sync()
    expect(await allTexts(await fresh.conversation(conversation.id))).toEqual(timeline.map(item => item.text))
  })

  it('keeps every stored chunk loadable after repeated unloads (no empty snapshot over the real one)', async () => {
    // Our own data directory: the test server deletes the one it makes when it closes.
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-eviction-'))
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }))
    // The repo path's save-then-unload (documents/eviction.ts): the relay core does not unload a
    // segment while a client syncs it, and writes its log in its own layout (relay/log-storage.ts).
    const at = await server({ documentIdleMs: 200, dataDir, relayCore: false })
    const alice = await client(at, 'alice')
    const conversation = await alice.createConversation({ members: ['bob'] })
    const segmentId = conversation.documentIds().find(id => id !== conversation.id)!
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 4; i++) await conversation.send(`round ${round} message ${i}`)
      await alice.sync()
      await eventually('the segment to be unloaded', () => !loaded(at, segmentId), 10_000)
    }
    // Closed here, in order, so the database can be read: the cleanup's own closes then find nothing open.
    await alice.close()
    await at.close()
    cleanup.splice(1)
    const db = new Level<string, Uint8Array>(join(at.dataDir, 'db'), { valueEncoding: 'view' })
    await db.open()
    try {
      const chunks = await new LevelStorageAdapter(db).loadRange([segmentId])
      const doc = chunks
        .filter(({ key }) => key[1] === 'snapshot' || key[1] === 'incremental')
        .reduce((d, { data }) => Automerge.loadIncremental(d, data!), Automerge.init<SegmentDoc>())
      expect(readSegmentEvents(doc).events.map(event => (event as { text?: string }).text)).toEqual(
        Array.from({ length: 12 }, (_, n) => `round ${Math.floor(n / 4)} message ${n % 4}`),
      )
    } finally {
      await db.close()
    }
  })

  it('unloads the least recently used documents beyond the cap', async () => {
    const at = await server({ maxLoadedDocuments: 4, documentIdleMs: 0 })
    const token = await at.token('alice')
    const ids: string[] = []
    for (let i = 0; i < 6; i++) {
      const response = await fetch(`${at.httpUrl}/v1/conversations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'group', members: [] }),
      })
      ids.push(((await response.json()) as { id: string }).id)
    }
    // 6 heads, 6 segments and alice's inbox loaded; the sweep brings it down to the cap once they are idle.
    await eventually('the cap to hold', () => Object.keys(at.server.repo.handles).length <= 4, 15_000)
    // Every conversation still answers, loaded again from storage.
    for (const id of ids) {
      const response = await fetch(`${at.httpUrl}/v1/conversations/${id}`, { headers: { authorization: `Bearer ${token}` } })
      expect(response.status).toBe(200)
    }
  })
})
