/**
 * A flipped byte in a stored value (bit rot, a torn write) is caught by the value's
 * checksum: the adapter reports it, moves it aside, and never hands it to automerge.
 * A document stored as several chunks still loads from the intact ones.
 */
import { next as Automerge } from '@automerge/automerge'
import type { StorageKey } from '@automerge/automerge-repo'
import { Level } from 'level'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { LevelStorageAdapter, QUARANTINE_PREFIX } from '../../src/index.ts'

describe('LevelStorageAdapter checksums', () => {
  const cleanup: (() => Promise<unknown>)[] = []
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step()
  })

  async function open(): Promise<{ db: Level<string, Uint8Array>; adapter: LevelStorageAdapter; corrupt: { key: StorageKey; reason: string }[] }> {
    const dir = await mkdtemp(join(tmpdir(), 'parley-level-corrupt-'))
    const db = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
    await db.open()
    cleanup.push(() => rm(dir, { recursive: true, force: true }), () => db.close())
    const corrupt: { key: StorageKey; reason: string }[] = []
    return { db, adapter: new LevelStorageAdapter(db, { onCorrupt: (key, reason) => corrupt.push({ key, reason }) }), corrupt }
  }

  async function flip(db: Level<string, Uint8Array>, key: string, at: number): Promise<void> {
    const value = Uint8Array.from((await db.get(key))!)
    value[at]! ^= 0xff
    await db.put(key, value)
  }

  it('reports, quarantines and skips a value with a flipped byte, in load and loadRange', async () => {
    const { db, adapter, corrupt } = await open()
    await adapter.save(['doc', 'incremental', 'a'], new Uint8Array([1, 2, 3, 4]))
    await adapter.save(['doc', 'incremental', 'b'], new Uint8Array([5, 6, 7, 8]))
    await adapter.save(['doc', 'sync-state', 'c'], new Uint8Array([9]))
    await flip(db, 'doc\0incremental\0a', 15)
    await flip(db, 'doc\0sync-state\0c', 10)

    expect(await adapter.load(['doc', 'sync-state', 'c'])).toBeUndefined()
    expect((await adapter.loadRange(['doc'])).map(chunk => chunk.key)).toEqual([['doc', 'incremental', 'b']])
    expect(corrupt.map(({ key }) => key)).toEqual([['doc', 'sync-state', 'c'], ['doc', 'incremental', 'a']])
    expect(corrupt[0]!.reason).toMatch(/checksum mismatch/)
    // Moved aside, not deleted: kept for inspection, reported once.
    expect(await db.get('doc\0incremental\0a')).toBeUndefined()
    expect(await db.get(`${QUARANTINE_PREFIX}\0doc\0incremental\0a`)).toBeDefined()
    await adapter.loadRange(['doc'])
    expect(corrupt).toHaveLength(2)
  })

  it('catches a flip in the stamp and in the checksum itself, and a truncated value', async () => {
    const { db, adapter, corrupt } = await open()
    for (const name of ['stamp', 'crc', 'short']) await adapter.save(['d', 'incremental', name], new Uint8Array(32).fill(7))
    await flip(db, 'd\0incremental\0stamp', 6)
    await flip(db, 'd\0incremental\0crc', 2)
    await db.put('d\0incremental\0short', Uint8Array.from((await db.get('d\0incremental\0short'))!).subarray(0, 20))
    expect(await adapter.loadRange(['d'])).toEqual([])
    expect(corrupt).toHaveLength(3)
  })

  it('reads values written before checksums existed', async () => {
    const { db, adapter, corrupt } = await open()
    const legacy = new Uint8Array(8 + 3)
    new DataView(legacy.buffer).setFloat64(0, Date.now() * 1024)
    legacy.set([1, 2, 3], 8)
    await db.put('old\0snapshot\0x', legacy)
    expect(await adapter.load(['old', 'snapshot', 'x'])).toEqual(new Uint8Array([1, 2, 3]))
    expect(corrupt).toEqual([])
  })

  it('loads a document from its intact chunks when one incremental chunk is corrupt', async () => {
    const { db, adapter } = await open()
    let doc = Automerge.change(Automerge.init<{ n: number[] }>(), d => (d.n = [1]))
    await adapter.save(['doc', 'snapshot', 's'], Automerge.save(doc))
    const heads = Automerge.getHeads(doc)
    doc = Automerge.change(doc, d => d.n.push(2))
    await adapter.save(['doc', 'incremental', 'i'], Automerge.saveSince(doc, heads))
    await flip(db, 'doc\0incremental\0i', 30)
    const chunks = await adapter.loadRange(['doc'])
    const loaded = chunks.reduce((d, chunk) => Automerge.loadIncremental(d, chunk.data!), Automerge.init<{ n: number[] }>())
    expect(loaded.n).toEqual([1])
  })
})
