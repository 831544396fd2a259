/**
 * The PostgreSQL event store's seqOf (asked for every event a client sends): the lookups
 * made in one turn of the event loop go to PostgreSQL in one round trip, each caller
 * getting the number of its own conversation's event, and a failure reaches every caller.
 */
import type { ParleyEvent } from '@parley/core'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { migrate, PostgresEventStore, PostgresPool } from '../../src/storage/postgres/index.ts'
import { createTestDatabase } from '../../src/testing.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const message = (id: string): ParleyEvent => ({ type: 'message', id, author: 'alice', device: 'd1', at: 1, text: id })

describe('PostgresEventStore.seqOf', () => {
  it('looks up the event IDs asked in one turn in one round trip, each in its own conversation', async () => {
    const db = await createTestDatabase()
    cleanups.push(() => db.drop())
    const pool = new PostgresPool(db.url)
    cleanups.push(() => pool.close())
    await migrate(pool)
    const store = new PostgresEventStore(pool)
    await store.append('c1', [message('x'), message('y')])
    await store.append('c2', [message('y')])
    const prepared = vi.spyOn(pool, 'prepared')
    expect(await Promise.all([store.seqOf('c1', 'y'), store.seqOf('c2', 'y'), store.seqOf('c1', 'x'), store.seqOf('c2', 'x'), store.seqOf('c1', 'y')])).toEqual([2, 1, 1, undefined, 2])
    expect(prepared).toHaveBeenCalledTimes(1)
    // One alone takes the single-row statement.
    expect(await store.seqOf('c2', 'y')).toBe(1)
    expect(prepared).toHaveBeenCalledTimes(2)
    expect(prepared.mock.calls.map(([name]) => name)).toEqual(['parley_event_seqs', 'parley_event_seq'])

    await pool.query('ALTER TABLE parley_events RENAME TO parley_events_away')
    const failed = await Promise.allSettled([store.seqOf('c1', 'x'), store.seqOf('c2', 'y')])
    expect(failed.map(result => result.status)).toEqual(['rejected', 'rejected'])
    await pool.query('ALTER TABLE parley_events_away RENAME TO parley_events')
  })
})
