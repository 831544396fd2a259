import { next as A } from '@automerge/automerge'
import { generateAutomergeUrl, parseAutomergeUrl, Repo, stringifyAutomergeUrl, type StorageAdapterInterface } from '@automerge/automerge-repo'
import { LevelStorageAdapter, MemoryStorageAdapter } from '@parley/core'
import { Level } from 'level'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ChangeLog } from '../../src/relay/change-log.ts'
import { headsHash, keyHash, LogStorage } from '../../src/relay/log-storage.ts'
import { actorId, ladder, write, type Doc } from './histories.ts'

type Adapter = { adapter: StorageAdapterInterface; close(): Promise<void> }

const adapters: [string, () => Promise<Adapter>][] = [
  ['memory', async () => ({ adapter: new MemoryStorageAdapter(), close: async () => {} })],
  [
    'LevelDB',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'parley-relay-'))
      const db = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
      await db.open()
      return {
        adapter: new LevelStorageAdapter(db),
        close: async () => {
          await db.close()
          await rm(dir, { recursive: true, force: true })
        },
      }
    },
  ],
]

/** What a stock automerge-repo Repo (today's server) loads from the storage. */
async function stockHeads(adapter: StorageAdapterInterface, documentId: string): Promise<string[]> {
  const repo = new Repo({ storage: adapter, network: [] })
  try {
    const handle = await repo.find<Doc>(stringifyAutomergeUrl(documentId as never))
    return A.getHeads(handle.doc())
  } finally {
    await repo.shutdown()
  }
}

const keysOf = async (adapter: StorageAdapterInterface, documentId: string) =>
  (await adapter.loadRange([documentId])).map(chunk => chunk.key.slice(1, 2).join()).sort()

describe.each(adapters)('LogStorage over %s storage', (_name, open) => {
  let opened: Adapter | null = null
  afterEach(async () => {
    await opened?.close()
    opened = null
  })

  it('writes accepted changes at once, those stored while a write is out together in the next, under automerge-repo keys that a stock Repo loads', async () => {
    opened = await open()
    const storage = new LogStorage(opened.adapter)
    const documentId = parseAutomergeUrl(generateAutomergeUrl()).documentId
    const { changes } = ladder(30)
    const log = new ChangeLog()
    const stored: Promise<void>[] = []
    for (let i = 0; i < 30; i += 10) stored.push(storage.store(documentId, log.append(changes.slice(i, i + 10)).accepted))
    await Promise.all(stored)
    const chunks = await opened.adapter.loadRange([documentId, 'incremental'])
    // The first ten at once; the twenty stored while that write was out in one more.
    expect(chunks.map(chunk => chunk.data!.length).sort((a, b) => a - b)).toEqual(
      [changes.slice(0, 10), changes.slice(10, 30)].map(part => part.reduce((sum, change) => sum + change.length, 0)).sort((a, b) => a - b),
    )
    expect(chunks[0]!.key[2]).toBe(keyHash(chunks[0]!.data!))
    await storage.store(documentId, log.append([write(A.load<Doc>(log.concat(), { actor: actorId(5) }), 'more')].map(d => A.getLastLocalChange(d)!)).accepted)
    expect(await opened.adapter.loadRange([documentId, 'incremental'])).toHaveLength(3)
    expect(await stockHeads(opened.adapter, documentId)).toEqual([...log.heads()])
    const reloaded = await new LogStorage(opened.adapter).load(documentId)
    expect(reloaded!.heads()).toEqual(log.heads())
    expect(reloaded!.size).toBe(31)
  })

  it('loads a document written by a stock Repo (snapshot and incrementals), extends it, and the Repo loads the result', async () => {
    opened = await open()
    const repo = new Repo({ storage: opened.adapter, network: [] })
    const handle = repo.create<Doc>({ events: [] })
    for (let i = 0; i < 40; i++) {
      handle.change(d => {
        // incompressible, so the snapshot passes 1 KB and later saves are incrementals
        d.events!.push(`m${i} ${randomBytes(150).toString('hex')}`)
      })
      if (i % 10 === 9) await repo.flush()
    }
    await repo.flush()
    const written = A.getHeads(handle.doc())
    await repo.shutdown()
    expect(await keysOf(opened.adapter, handle.documentId)).toEqual(expect.arrayContaining(['incremental', 'snapshot']))

    const storage = new LogStorage(opened.adapter)
    const log = (await storage.load(handle.documentId))!
    expect([...log.heads()]).toEqual(written)
    expect(A.getHeads(A.load(log.concat()))).toEqual(written)
    const next = write(A.load<Doc>(log.concat(), { actor: actorId(7) }), 'from the relay')
    await storage.store(handle.documentId, log.append([A.getLastLocalChange(next)!]).accepted)
    expect(await stockHeads(opened.adapter, handle.documentId)).toEqual(A.getHeads(next))
  })

  it('compacts a log into one snapshot named by its heads, removing what it covers', async () => {
    opened = await open()
    const storage = new LogStorage(opened.adapter)
    const documentId = parseAutomergeUrl(generateAutomergeUrl()).documentId
    const { changes } = ladder(50)
    const log = new ChangeLog()
    for (let i = 0; i < 50; i += 5) {
      await storage.store(documentId, log.append(changes.slice(i, i + 5)).accepted)
    }
    expect(storage.shouldCompact(documentId)).toBe(true)
    await storage.compact(documentId, log)
    const chunks = await opened.adapter.loadRange([documentId])
    expect(chunks.map(chunk => chunk.key)).toEqual([[documentId, 'snapshot', headsHash(log.heads())]])
    expect(storage.shouldCompact(documentId)).toBe(false)
    expect(await stockHeads(opened.adapter, documentId)).toEqual([...log.heads()])
    // a change accepted after compaction is an incremental on top of the snapshot
    const more = write(A.load<Doc>(log.concat(), { actor: actorId(9) }), 'after')
    await storage.store(documentId, log.append([A.getLastLocalChange(more)!]).accepted)
    expect(await keysOf(opened.adapter, documentId)).toEqual(['incremental', 'snapshot'])
    const reloaded = (await new LogStorage(opened.adapter).load(documentId))!
    expect(reloaded.heads()).toEqual(log.heads())
    expect(await stockHeads(opened.adapter, documentId)).toEqual([...log.heads()])
  })

  it('keeps the chunks of changes still waiting for their deps through a compaction', async () => {
    opened = await open()
    const documentId = parseAutomergeUrl(generateAutomergeUrl()).documentId
    const { changes } = ladder(4)
    // storage holds changes 0, 1 and 3: change 3 waits for 2
    await opened.adapter.save([documentId, 'incremental', 'a'], changes[0]!)
    await opened.adapter.save([documentId, 'incremental', 'b'], changes[1]!)
    await opened.adapter.save([documentId, 'incremental', 'c'], changes[3]!)
    const storage = new LogStorage(opened.adapter)
    const log = (await storage.load(documentId))!
    expect(log.size).toBe(2)
    expect(log.pendingCount).toBe(1)
    await storage.compact(documentId, log)
    // were the server to stop now, change 3 must still be on disk
    expect((await new LogStorage(opened.adapter).load(documentId))!.pendingCount).toBe(1)
    await storage.store(documentId, log.append([changes[2]!]).accepted)
    const reloaded = (await new LogStorage(opened.adapter).load(documentId))!
    expect(reloaded.size).toBe(4)
  })

  it('names a snapshot as automerge-repo does', async () => {
    opened = await open()
    const repo = new Repo({ storage: opened.adapter, network: [] })
    const handle = repo.create<Doc>({ events: ['small'] })
    await repo.flush()
    const heads = A.getHeads(handle.doc())
    await repo.shutdown()
    const snapshots = await opened.adapter.loadRange([handle.documentId, 'snapshot'])
    expect(snapshots.map(chunk => chunk.key[2])).toEqual([headsHash(heads)])
  })

  it('returns null for a document with nothing stored', async () => {
    opened = await open()
    expect(await new LogStorage(opened.adapter).load(parseAutomergeUrl(generateAutomergeUrl()).documentId)).toBeNull()
  })
})

describe('LogStorage when a write fails', () => {
  it('keeps the changes queued, rejects the flush, and writes them on its own retry once the storage is back', async () => {
    const memory = new MemoryStorageAdapter()
    let down = true
    const adapter: StorageAdapterInterface = Object.assign(Object.create(memory) as StorageAdapterInterface, {
      save: (key: Parameters<StorageAdapterInterface['save']>[0], data: Uint8Array) => (down ? Promise.reject(new Error('database unreachable')) : memory.save(key, data)),
    })
    const errors: unknown[] = []
    const storage = new LogStorage(adapter, { retryMs: 20, onWriteError: error => errors.push(error) })
    const documentId = parseAutomergeUrl(generateAutomergeUrl()).documentId
    const log = new ChangeLog()
    await expect(storage.store(documentId, log.append(ladder(10).changes).accepted)).rejects.toThrow('database unreachable')
    expect(await memory.loadRange([documentId])).toEqual([])
    down = false
    // No caller flushes again: the retry does.
    await expect.poll(async () => (await new LogStorage(memory).load(documentId))?.size ?? 0, { timeout: 5_000 }).toBe(10)
    expect((await new LogStorage(memory).load(documentId))!.heads()).toEqual(log.heads())
    await storage.flush()
    expect(errors).toHaveLength(1)
  })
})
