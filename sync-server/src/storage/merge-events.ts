/**
 * Data directories written before 2026-12-08 keep the event index in a LevelDB of its own
 * (`<data>/events`). Today it lives in the documents' database under EVENTS_PREFIX, so a
 * message's change and its numbering are one LevelDB write (each thread-pool hand-off
 * saved is about a tenth of the server's CPU per message: benchmarks/RESULTS.md, "One
 * LevelDB write per message"). At open, an old
 * `events` database is copied in, then moved aside and removed.
 *
 * Safe to interrupt anywhere: a copy stopped half-way is made again in full at the next
 * start (the same keys and values), and the old database is renamed before it is removed,
 * so a removal stopped half-way leaves only `events.merged`, which the next start removes.
 */
import type { FastifyBaseLogger } from 'fastify'
import { Level } from 'level'
import { existsSync } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { EVENTS_PREFIX } from './level-event-store.ts'
import type { ResilientDatabase, WriteOp } from './resilient-database.ts'

const BATCH = 1000

/** Copies `<dataDir>/events` into `db` under EVENTS_PREFIX and removes it, when it is there. */
export async function mergeEventsDatabase(dataDir: string, db: ResilientDatabase, log?: FastifyBaseLogger): Promise<void> {
  const dir = join(dataDir, 'events')
  const aside = join(dataDir, 'events.merged')
  // What a removal stopped half-way at an earlier start left.
  await rm(aside, { recursive: true, force: true })
  if (!existsSync(join(dir, 'CURRENT'))) return
  log?.info({ from: dir }, 'storage: moving the event index into the documents database (once, for data written before 2026-12-08)')
  const old = new Level<string, Uint8Array>(dir, { valueEncoding: 'view', createIfMissing: false })
  // (No server runs on the directory: this one holds the lock on db/.)
  await old.open()
  let copied = 0
  try {
    let batch: WriteOp[] = []
    for await (const [key, value] of old.iterator()) {
      batch.push({ type: 'put', key: EVENTS_PREFIX + key, value })
      if (batch.length < BATCH) continue
      await db.batch(batch)
      copied += batch.length
      batch = []
      if (copied % (100 * BATCH) === 0) log?.info({ copied }, 'storage: moving the event index')
    }
    await db.batch(batch)
    copied += batch.length
  } finally {
    await old.close()
  }
  // Held in memory (a full disk) is not on disk: the old database stays until it is.
  const { writable, problem } = db.status()
  if (!writable) throw new Error(`could not move the event index into the documents database (${problem}); ${dir} is kept and the move is made again at the next start`)
  await rename(dir, aside)
  log?.info({ copied }, 'storage: the event index is in the documents database')
  await rm(aside, { recursive: true, force: true })
}
