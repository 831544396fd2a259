/**
 * The LevelDB event store remembers the event IDs it looked up (storage/level-event-store.ts):
 * the relay's event-ID check and the numbering of the same event read each ID once
 * between them, and what it remembers never hides a number written since.
 */
import type { ParleyEvent } from '@parley/core'
import { Level } from 'level'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { JsonDatabase } from '../../src/storage/json-database.ts'
import { LevelEventStore, MAX_REMEMBERED_IDS } from '../../src/storage/level-event-store.ts'
import { ResilientDatabase, type ReopenableLevel } from '../../src/storage/resilient-database.ts'

const message = (id: string): ParleyEvent => ({ type: 'message', id, author: 'alice', device: 'd1', at: 1, text: id })
const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A LevelDB event store on a fresh directory, counting its reads of `id:` keys. */
async function store() {
  const dir = await mkdtemp(join(tmpdir(), 'parley-event-ids-'))
  const level = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
  await level.open()
  cleanups.push(() => rm(dir, { recursive: true, force: true }), () => level.close())
  const reads = { ids: 0 }
  /** While set, the next `id:` read answers only once it is opened (after what was read). */
  let gate: Promise<void> | undefined
  class Counting extends JsonDatabase {
    override async get<T>(key: string): Promise<T | undefined> {
      if (!key.startsWith('id:')) return super.get<T>(key)
      reads.ids++
      const held = gate
      gate = undefined
      const value = await super.get<T>(key)
      await held
      return value
    }
  }
  const db = new Counting(new ResilientDatabase(level as unknown as ReopenableLevel, { dir, retryMs: 1000, maxHeldBytes: 1 << 20 }))
  const holdNextRead = (): (() => void) => {
    let open!: () => void
    gate = new Promise(resolve => (open = resolve))
    return open
  }
  return { events: new LevelEventStore(db), reads, holdNextRead }
}

describe('LevelDB event store: event IDs looked up', () => {
  it('reads an ID once when the check looks it up and the numbering looks again', async () => {
    const { events, reads } = await store()
    expect(await events.seqOf('c', 'm1')).toBeUndefined()
    const { fresh } = await events.append('c', [message('m1')])
    expect(fresh.map(({ seq }) => seq)).toEqual([1])
    expect(reads.ids).toBe(1)
  })

  it('answers with the number once the ID is numbered, after remembering it was not', async () => {
    const { events } = await store()
    expect(await events.seqOf('c', 'm1')).toBeUndefined()
    await events.append('c', [message('m1')])
    expect(await events.seqOf('c', 'm1')).toBe(1)
    // Numbered again: the same number, nothing new.
    const again = await events.append('c', [message('m1')])
    expect(again).toEqual({ all: [{ seq: 1, event: message('m1') }], fresh: [] })
  })

  it('does not remember a read that a numbering overtook', async () => {
    const { events, holdNextRead } = await store()
    // The check's read answers "not numbered" only after the numbering wrote the ID.
    const open = holdNextRead()
    const late = events.seqOf('c', 'm1')
    await events.append('c', [message('m1')])
    open()
    expect(await late).toBeUndefined()
    expect(await events.seqOf('c', 'm1')).toBe(1)
  })

  it('remembers a bounded number of IDs, reading the oldest again', async () => {
    const { events, reads } = await store()
    for (let i = 0; i <= MAX_REMEMBERED_IDS; i++) await events.seqOf('c', `m${i}`)
    expect(reads.ids).toBe(MAX_REMEMBERED_IDS + 1)
    await events.seqOf('c', `m${MAX_REMEMBERED_IDS}`)
    expect(reads.ids).toBe(MAX_REMEMBERED_IDS + 1)
    await events.seqOf('c', 'm0')
    expect(reads.ids).toBe(MAX_REMEMBERED_IDS + 2)
  })
})
