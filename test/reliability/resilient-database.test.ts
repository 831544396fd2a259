/**
 * The document database through a full disk (sync-server/src/storage/resilient-database.ts):
 * writes are held, reads see them, and once space is back they reach the disk and survive
 * a reopen. Run on a real full tmpfs where the test may mount one, and on a wrapper that
 * fails writes the way LevelDB does (proved equal to the real error here) everywhere.
 */
import { ResilientDatabase, type ReopenableLevel } from '@parley/sync-server/testing'
import { Level } from 'level'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { enospcError, enospcLevel } from './support/enospc-level.ts'
import { eventually } from './support/random.ts'
import { mountSmallDisk } from './support/small-disk.ts'

const disk = await mountSmallDisk(4)
afterAll(() => disk?.unmount())

interface Scenario {
  db: ReopenableLevel
  fill(): Promise<unknown>
  release(): Promise<void>
}

/** Writes until full, keeps writing (held), reads back, releases, and checks everything after a reopen. */
async function throughAFullDisk(dir: string, scenario: Scenario): Promise<{ failures: Error[]; recovered: number }> {
  const failures: Error[] = []
  let recovered = 0
  const db = new ResilientDatabase(scenario.db, { dir, retryMs: 50, maxHeldBytes: 64 * 1024 * 1024, probeBytes: 64 * 1024, onFailure: error => failures.push(error), onRecovered: () => recovered++ })
  const value = (i: number): Uint8Array => new Uint8Array(4096).fill(i % 251)
  for (let i = 0; i < 20; i++) await db.put(`before-${i}`, value(i))
  await scenario.fill()
  // Not one write fails towards the caller: each is on disk or held.
  for (let i = 0; i < 50; i++) await db.put(`during-${i}`, value(i))
  await db.del('before-0')
  expect(failures.length).toBe(1)
  expect(db.status()).toMatchObject({ writable: false })
  expect(await db.get('during-7')).toEqual(value(7))
  expect(await db.get('before-0')).toBeUndefined()
  const listed: string[] = []
  for await (const [key] of db.iterator({ gte: 'during-', lt: 'during.' })) listed.push(key)
  expect(listed).toHaveLength(50)

  await scenario.release()
  await eventually('the database to take writes again', () => db.status().writable, 10_000, 20)
  expect(db.status()).toMatchObject({ writable: true, heldWrites: 0 })
  await db.close()
  // Reopened from disk: every write is there, the delete too.
  await scenario.db.open()
  const bytes = (stored: Uint8Array | undefined): Uint8Array | undefined => stored && Uint8Array.from(stored)
  for (let i = 0; i < 50; i++) expect(bytes(await scenario.db.get(`during-${i}`)), `during-${i}`).toEqual(value(i))
  for (let i = 1; i < 20; i++) expect(bytes(await scenario.db.get(`before-${i}`))).toEqual(value(i))
  expect(await scenario.db.get('before-0')).toBeUndefined()
  await scenario.db.close()
  return { failures, recovered }
}

describe('ResilientDatabase', () => {
  it.skipIf(!disk)('holds writes through a real full tmpfs and writes them once space returns', async () => {
    const level = new Level<string, Uint8Array>(join(disk!.dir, 'db'), { valueEncoding: 'view' })
    await level.open()
    const { failures, recovered } = await throughAFullDisk(disk!.dir, { db: level as unknown as ReopenableLevel, fill: () => disk!.fill(), release: () => disk!.release() })
    expect(failures[0]).toMatchObject({ code: 'LEVEL_IO_ERROR', message: expect.stringMatching(/No space left on device/) })
    expect(recovered).toBe(1)
  })

  it.skipIf(!disk)('uses a wrapper whose error is the one LevelDB raises on a full disk', async () => {
    const dir = join(disk!.dir, 'compare')
    const level = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
    await level.open()
    await disk!.fill()
    let real: (Error & { code?: string }) | undefined
    try {
      for (let i = 0; i < 10_000; i++) await level.put(`k${i}`, new Uint8Array(4096))
    } catch (error) {
      real = error as Error & { code?: string }
    }
    await disk!.release()
    await level.close()
    const fake = enospcError(dir)
    expect(real).toBeDefined()
    expect(fake.code).toBe(real!.code)
    expect(fake.message.replace(/\d{6}\.log/, 'N.log')).toBe(real!.message.replace(/\d{6}\.log/, 'N.log'))
    expect(Object.getPrototypeOf(fake)).toBe(Object.getPrototypeOf(real))
  })

  it('holds writes through the ENOSPC wrapper and writes them once it stops failing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-enospc-'))
    try {
      const level = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
      await level.open()
      const db = enospcLevel(level as unknown as ReopenableLevel & { location: string })
      const { failures, recovered } = await throughAFullDisk(dir, {
        db,
        fill: async () => (db.full = true),
        release: async () => void (db.full = false),
      })
      expect(failures[0]).toMatchObject({ code: 'LEVEL_IO_ERROR' })
      expect(recovered).toBe(1)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('holds a batch whole and answers ranges over held writes as LevelDB answers them on disk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-enospc-'))
    try {
      const level = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
      await level.open()
      const raw = enospcLevel(level as unknown as ReopenableLevel & { location: string })
      const db = new ResilientDatabase(raw, { dir, retryMs: 50, maxHeldBytes: 1024 * 1024, probeBytes: 1024 })
      const value = (i: number): Uint8Array => Uint8Array.of(i)
      const key = (i: number): string => `e:${String(i).padStart(3, '0')}`
      for (let i = 1; i <= 5; i++) await db.put(key(i), value(i))
      raw.full = true
      await db.batch([
        { type: 'put', key: key(6), value: value(6) },
        { type: 'put', key: key(7), value: value(7) },
        { type: 'del', key: key(2) },
      ])
      expect(db.status()).toMatchObject({ writable: false, heldWrites: 3 })
      const ranges = [
        { gt: key(1), lt: 'e:~', limit: 3 },
        { gte: 'e:', lt: key(7), reverse: true, limit: 2 },
        { gte: key(3), lte: key(7) },
      ]
      const keysOf = async (source: Pick<ReopenableLevel, 'iterator'>, range: object): Promise<string[]> => {
        const keys: string[] = []
        for await (const [k] of source.iterator(range)) keys.push(k)
        return keys
      }
      const whileHeld = await Promise.all(ranges.map(range => keysOf(db, range)))
      expect(whileHeld).toEqual([[key(3), key(4), key(5)], [key(6), key(5)], [key(3), key(4), key(5), key(6), key(7)]])
      raw.full = false
      await eventually('the held batch to reach the disk', () => db.status().writable, 10_000, 20)
      // The same questions put to LevelDB itself, now that everything is on disk.
      expect(await Promise.all(ranges.map(range => keysOf(level as unknown as ReopenableLevel, range)))).toEqual(whileHeld)
      await db.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
