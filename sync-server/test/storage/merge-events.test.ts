/**
 * A data directory whose event index is a LevelDB of its own (`events`, written before
 * 2026-12-08) opens with the index moved into the documents' database
 * (storage/merge-events.ts), every number kept; a move stopped after the copy leaves only
 * `events.merged`, removed at the next start.
 */
import { Level } from 'level'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openDatabases } from '../../src/storage/databases.ts'

const OPTIONS = { retryMs: 1000, maxHeldBytes: 1 << 20, minFreeBytes: 0 }
const event = (n: number) => ({ id: `e${n}`, type: 'message', conversation: 'c1', author: 'alice', text: `hello ${n}`, createdAt: n })

describe('the event index of an older data directory', () => {
  const dirs: string[] = []
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
  })

  it('moves into the documents database at open, numbers kept, and numbering goes on after them', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-merge-events-'))
    dirs.push(dataDir)
    // As storage/level-event-store.ts wrote it in `<data>/events`.
    const old = new Level<string, object | number>(join(dataDir, 'events'), { valueEncoding: 'json' })
    const count = 2500
    await old.batch([
      ...Array.from({ length: count }, (_, i) => [
        { type: 'put' as const, key: `e:c1:${String(i + 1).padStart(12, '0')}`, value: { seq: i + 1, event: event(i + 1) } },
        { type: 'put' as const, key: `id:c1:e${i + 1}`, value: i + 1 },
      ]).flat(),
      { type: 'put', key: 'last:c1', value: count },
    ])
    await old.close()

    const databases = await openDatabases(dataDir, OPTIONS)
    try {
      expect(existsSync(join(dataDir, 'events'))).toBe(false)
      expect(existsSync(join(dataDir, 'events.merged'))).toBe(false)
      expect(await databases.events.lastSeq('c1')).toBe(count)
      expect(await databases.events.seqOf('c1', 'e1234')).toBe(1234)
      const page = await databases.events.page('c1', { after: count - 3 }, 10)
      expect(page.map(({ seq, event }) => [seq, event.id])).toEqual([[count - 2, `e${count - 2}`], [count - 1, `e${count - 1}`], [count, `e${count}`]])
      const { fresh } = await databases.events.append('c1', [event(count + 1) as never])
      expect(fresh.map(({ seq }) => seq)).toEqual([count + 1])
    } finally {
      await databases.close()
    }
    // The keys sit under the prefix in db/, where a stock automerge-repo Repo never looks (no document ID starts with `!`).
    const db = new Level<string, object>(join(dataDir, 'db'), { valueEncoding: 'json' })
    expect(await db.get(`!events!last:c1`)).toBe(count + 1)
    await db.close()
  })

  it('removes what a move stopped after the copy left aside', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-merge-events-'))
    dirs.push(dataDir)
    await mkdir(join(dataDir, 'events.merged', 'half-removed'), { recursive: true })
    const databases = await openDatabases(dataDir, OPTIONS)
    await databases.close()
    expect(existsSync(join(dataDir, 'events.merged'))).toBe(false)
  })
})
