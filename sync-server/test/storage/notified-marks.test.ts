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
 * conversations with events waiting, not of every conversation ever numbered.
 */
import type { ParleyEvent } from '@parley/core'
import { Level } from 'level'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { JsonDatabase } from '../../src/storage/json-database.ts'
import { LevelEventStore } from '../../src/storage/level-event-store.ts'
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
async function levelStore(dir: string) {
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
  return { store: new LevelEventStore(db), db, reads, markKeys, close: () => level.close() }
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
