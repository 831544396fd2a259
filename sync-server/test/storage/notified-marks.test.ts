/**
 * What is left waiting across runs (events/notifications.ts over the event stores).
 *
 * Events numbered while no consumer is configured (no webhooks, Web Push, moderation or
 * publishing: the index numbers without `notify`) are never handed over, on either backend:
 * PostgreSQL never lists them, and LevelDB, whose "not notified" is a mark per conversation
 * (everything after it waits), records them as a gap in the mark of a conversation with
 * events still waiting. What waited before such a run is still handed over after it.
 *
 * LevelDB keeps a mark only while events wait, so a start reads the marks of the
 * conversations with events waiting, not of every conversation ever numbered; and it holds
 * at most `maxWaitingInMemory` waiting events in memory, the rest waiting on disk only.
 */
import type { ParleyEvent } from '@parley/core'
import { Level } from 'level'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { JsonDatabase } from '../../src/storage/json-database.ts'
import { LevelEventStore, type LevelEventStoreOptions } from '../../src/storage/level-event-store.ts'
import { openDatabases, type Databases } from '../../src/storage/databases.ts'
import { ResilientDatabase, type ReopenableLevel } from '../../src/storage/resilient-database.ts'
import { createTestDatabase } from '../../src/testing.ts'
import { BACKENDS } from './backends.ts'

const message = (id: string): ParleyEvent => ({ type: 'message', id, author: 'alice', device: 'd1', at: 1, text: id })
const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const claimed = async (databases: Databases): Promise<string[]> => (await databases.events.claimUnnotified(0, 1000)).map(({ conversationId, seq, event }) => `${conversationId}:${seq}:${event.id}`)

describe.each(BACKENDS)('a run with no consumer configured, on %s', backend => {
  it('numbers events that no later run hands over, and leaves what waited before it waiting', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-marks-'))
    const database = backend === 'PostgreSQL' ? await createTestDatabase() : undefined
    cleanups.push(async () => {
      await database?.drop()
      await rm(dir, { recursive: true, force: true })
    })
    // Each run opens the storage as a server start does.
    const run = async (work: (databases: Databases) => Promise<void>): Promise<void> => {
      const databases = await openDatabases(dir, { retryMs: 1000, maxHeldBytes: 1 << 20, minFreeBytes: 0, postgres: database?.url })
      try {
        await work(databases)
      } finally {
        await databases.close()
      }
    }
    // With consumers: a1 and b1 done, a2 left waiting (the server died before its work).
    await run(async ({ events }) => {
      await events.append('a', [message('a1'), message('a2')], { notify: true })
      await events.append('b', [message('b1')], { notify: true })
      await events.notified([{ conversationId: 'a', seq: 1 }, { conversationId: 'b', seq: 1 }])
    })
    // None configured.
    await run(async ({ events }) => {
      await events.append('a', [message('a3'), message('a4')])
      await events.append('b', [message('b2')])
      await events.append('c', [message('c1')])
      await events.append('a', [message('a5')])
    })
    // With consumers again: only a2 is left over; what this run numbers waits too.
    await run(async databases => {
      expect(await claimed(databases)).toEqual(['a:2:a2'])
      await databases.events.append('a', [message('a6')], { notify: true })
      await databases.events.append('b', [message('b3')], { notify: true })
      // (a2 again: claimed with no grace period.)
      expect(await claimed(databases)).toEqual(['a:2:a2', 'a:6:a6', 'b:3:b3'])
      await databases.events.notified([{ conversationId: 'a', seq: 2 }, { conversationId: 'a', seq: 6 }])
    })
    await run(async databases => {
      expect(await claimed(databases)).toEqual(['b:3:b3'])
    })
  })
})

/** A LevelDB event store whose reads are counted, on `dir`. */
async function levelStore(dir: string, options: LevelEventStoreOptions = {}) {
  const level = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
  await level.open()
  const reads = { lasts: 0, marks: 0 }
  class Counting extends JsonDatabase {
    override get<T>(key: string): Promise<T | undefined> {
      if (key.startsWith('last:')) reads.lasts++
      return super.get<T>(key)
    }
    override async *values<T>(range: Parameters<JsonDatabase['values']>[0]): AsyncGenerator<T> {
      for await (const value of super.values<T>(range)) {
        if (range.gte === 'u:') reads.marks++
        yield value
      }
    }
  }
  const db = new Counting(new ResilientDatabase(level as unknown as ReopenableLevel, { dir, retryMs: 1000, maxHeldBytes: 1 << 20 }))
  const markKeys = async (): Promise<string[]> => {
    const keys: string[] = []
    for await (const key of level.keys({ gte: 'u:', lt: 'u;' })) keys.push(key)
    return keys
  }
  return { store: new LevelEventStore(db, options), db, reads, markKeys, close: () => level.close() }
}

describe('LevelDB: marks only while events wait', () => {
  it('keeps no mark for a conversation whose events are all done, so a start reads only the marks of those with events waiting', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-marks-level-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const first = await levelStore(dir)
    for (let i = 0; i < 40; i++) {
      await first.store.append(`done${i}`, [message(`d${i}a`), message(`d${i}b`)], { notify: true })
      await first.store.notified([{ conversationId: `done${i}`, seq: 1 }, { conversationId: `done${i}`, seq: 2 }])
    }
    await first.store.append('waits', [message('w1'), message('w2')], { notify: true })
    await first.store.notified([{ conversationId: 'waits', seq: 1 }])
    expect(await first.markKeys()).toEqual(['u:waits'])
    await first.close()

    const second = await levelStore(dir)
    expect((await second.store.claimUnnotified(0, 100)).map(({ conversationId, seq }) => `${conversationId}:${seq}`)).toEqual(['waits:2'])
    expect(second.reads).toEqual({ lasts: 1, marks: 1 })
    await second.store.notified([{ conversationId: 'waits', seq: 2 }])
    expect(await second.markKeys()).toEqual([])
    await second.close()
  })

  it('deletes, at the first read, a mark with nothing waiting (as a version that kept one per conversation left them)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-marks-old-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const first = await levelStore(dir)
    await first.store.append('old', [message('o1'), message('o2')])
    await first.db.batch([{ key: 'u:old', value: { conversationId: 'old', upTo: 2 } }, { key: 'u:behind', value: { conversationId: 'behind', upTo: 0 } }])
    await first.store.append('behind', [message('b1')])
    await first.close()

    const second = await levelStore(dir)
    expect((await second.store.claimUnnotified(0, 100)).map(({ conversationId, seq }) => `${conversationId}:${seq}`)).toEqual(['behind:1'])
    expect(await second.markKeys()).toEqual(['u:behind'])
    await second.close()
  })
})

describe('LevelDB: waiting events held in memory are bounded', () => {
  const ids = (prefix: string, from: number, to: number): ParleyEvent[] => Array.from({ length: to - from + 1 }, (_, i) => message(`${prefix}${from + i}`))
  const levelDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-marks-bound-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    return dir
  }
  /** Claims (no grace period) and takes off until nothing is left; every claim's size and what memory held after it. */
  const drain = async (store: LevelEventStore): Promise<{ handed: string[]; held: number[] }> => {
    const handed: string[] = []
    const held: number[] = []
    for (let looks = 0; looks < 100; looks++) {
      const events = await store.claimUnnotified(0, 1000)
      held.push(store.waitingInMemory)
      if (events.length === 0) break
      handed.push(...events.map(({ conversationId, seq }) => `${conversationId}:${seq}`))
      await store.notified(events)
    }
    return { handed, held }
  }

  it('holds at most the bound while a consumer fails, and hands every waiting event over once memory frees', async () => {
    const dir = await levelDir()
    const level = await levelStore(dir, { maxWaitingInMemory: 10 })
    for (let i = 1; i <= 30; i += 5) await level.store.append('a', ids('a', i, i + 4), { notify: true })
    await level.store.append('b', ids('b', 1, 5), { notify: true })
    // A run without consumers in between: a gap in a's mark, past what memory holds.
    await level.store.append('a', ids('a', 31, 33))
    await level.store.append('a', ids('a', 34, 35), { notify: true })
    expect(level.store.waitingInMemory).toBe(10)
    const { handed, held } = await drain(level.store)
    expect(Math.max(...held)).toBe(10)
    const expected = [...Array.from({ length: 30 }, (_, i) => `a:${i + 1}`), 'a:34', 'a:35', ...Array.from({ length: 5 }, (_, i) => `b:${i + 1}`)]
    expect(handed.toSorted()).toEqual(expected.toSorted())
    expect(level.store.waitingInMemory).toBe(0)
    expect(await level.markKeys()).toEqual([])
    await level.close()
  })

  it('reads at most the bound at a start, and the rest, from disk, as memory frees', async () => {
    const dir = await levelDir()
    const first = await levelStore(dir)
    await first.store.append('a', ids('a', 1, 25), { notify: true })
    await first.store.append('b', ids('b', 1, 3), { notify: true })
    await first.close()

    const second = await levelStore(dir, { maxWaitingInMemory: 10 })
    const firstLook = await second.store.claimUnnotified(0, 1000)
    expect(second.store.waitingInMemory).toBe(10)
    expect(firstLook.map(({ conversationId, seq }) => `${conversationId}:${seq}`)).toEqual(Array.from({ length: 10 }, (_, i) => `a:${i + 1}`))
    // Stopped here: the mark is not raised past what waits on disk only.
    await second.store.notified(firstLook)
    await second.close()

    const third = await levelStore(dir, { maxWaitingInMemory: 10 })
    const { handed, held } = await drain(third.store)
    expect(Math.max(...held)).toBe(10)
    expect(handed.toSorted()).toEqual([...Array.from({ length: 15 }, (_, i) => `a:${i + 11}`), 'b:1', 'b:2', 'b:3'].toSorted())
    expect(await third.markKeys()).toEqual([])
    await third.close()
  })

  it('takes events past the bound off at no cost when their notifications are done in order, so none is handed over again', async () => {
    const dir = await levelDir()
    const level = await levelStore(dir, { maxWaitingInMemory: 10 })
    const { fresh } = await level.store.append('a', ids('a', 1, 30), { notify: true })
    expect(level.store.waitingInMemory).toBe(10)
    await level.store.notified(fresh.map(({ seq }) => ({ conversationId: 'a', seq })))
    expect(level.store.waitingInMemory).toBe(0)
    expect(await level.store.claimUnnotified(0, 1000)).toEqual([])
    expect(await level.markKeys()).toEqual([])
    await level.close()
  })

  it('refuses a bound that is not a positive integer', () => {
    expect(() => new LevelEventStore({} as JsonDatabase, { maxWaitingInMemory: 0 })).toThrow(/maxWaitingInMemory must be a positive integer/)
  })
})
