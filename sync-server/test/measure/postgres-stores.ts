/**
 * Issue 16: what the PostgreSQL stores cost against LevelDB, in one run. For each
 * backend: events numbered one at a time (the server records each accepted message as it
 * arrives), in 1 conversation and spread over 50 written at once; then accepted-change
 * hashes recorded by 2,000 callers at once (as many connections do), which the PostgreSQL
 * store writes together (storage/write-batch.ts). Prints, per operation, this
 * process's CPU (process.cpuUsage), the PostgreSQL backends' CPU (/proc/<pid>/stat of
 * this pool's connections), wall time, and PostgreSQL transactions (pg_stat_database
 * xact_commit: one per round trip).
 *
 *   node --import tsx --conditions=@parley/source sync-server/test/measure/postgres-stores.ts [events=2000]
 *
 * Not part of `npm test`: a measurement, run by hand (uses createTestDatabase).
 */
import type { ParleyEvent } from '@parley/core'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EventIndex } from '../../src/events/event-index.ts'
import { openDatabases, type Databases } from '../../src/storage/databases.ts'
import { PostgresPool } from '../../src/storage/postgres/index.ts'
import { createTestDatabase } from '../../src/testing.ts'

const count = Number(process.argv[2] ?? 2000)
const TICKS = 100 // USER_HZ on Linux

interface Sample { cpuMs: number; pgCpuMs: number; wallMs: number; transactions: number }

async function measure(name: string, databases: Databases, admin: PostgresPool | undefined, database: string | undefined, body: () => Promise<void>): Promise<Sample> {
  const backendCpu = async (): Promise<number> => {
    if (!admin) return 0
    const rows = await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'parley-server'", [database])
    return rows.reduce((sum, { pid }) => {
      try {
        const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
        return sum + ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS
      } catch {
        return sum
      }
    }, 0)
  }
  const transactions = async (): Promise<number> => {
    if (!admin) return 0
    const [row] = await admin.query<{ n: string }>('SELECT xact_commit AS n FROM pg_stat_database WHERE datname = $1', [database])
    return Number(row?.n ?? 0)
  }
  void databases
  const [pgBefore, txBefore] = [await backendCpu(), await transactions()]
  const cpu = process.cpuUsage()
  const start = performance.now()
  await body()
  const wallMs = performance.now() - start
  const { user, system } = process.cpuUsage(cpu)
  // pg_stat_database is updated when a backend reports (at most every 10 s, or when idle): wait for it.
  await new Promise(resolve => setTimeout(resolve, 1500))
  const [pgAfter, txAfter] = [await backendCpu(), await transactions()]
  const sample = { cpuMs: (user + system) / 1000, pgCpuMs: pgAfter - pgBefore, wallMs, transactions: Math.max(0, txAfter - txBefore - 2) }
  console.log(`  ${name.padEnd(44)} node CPU ${(sample.cpuMs / count).toFixed(3)} ms/op, PostgreSQL CPU ${(sample.pgCpuMs / count).toFixed(3)} ms/op, wall ${(sample.wallMs / count).toFixed(3)} ms/op, transactions ${sample.transactions}`)
  return sample
}

const message = (id: string): ParleyEvent => ({ type: 'message', id, author: 'alice', device: 'd1', at: 1, text: `message ${id}` })

for (const backend of ['LevelDB', 'PostgreSQL'] as const) {
  const dir = await mkdtemp(join(tmpdir(), 'parley-measure-'))
  const database = backend === 'PostgreSQL' ? await createTestDatabase() : undefined
  const databases = await openDatabases(dir, { retryMs: 1000, maxHeldBytes: 1 << 24, minFreeBytes: 0, postgres: database?.url })
  const admin = database && new PostgresPool(database.url.replace(/\/[^/]*$/, '/postgres'), { max: 1, applicationName: 'measure' })
  const name = database && new URL(database.url).pathname.slice(1)
  console.log(`${backend} (${count} operations each)`)
  const index = new EventIndex(databases.events)
  await measure('record 1 event at a time, 1 conversation', databases, admin, name, async () => {
    for (let i = 0; i < count; i++) await index.record('one', [message(`a${i}`)])
  })
  await measure('record 1 event at a time, 50 conversations', databases, admin, name, async () => {
    await Promise.all(Array.from({ length: 50 }, (_, c) => (async () => {
      for (let i = c; i < count; i += 50) await index.record(`c${c}`, [message(`b${i}`)])
    })()))
  })
  await measure('accept 1 hash, 2,000 callers at once', databases, admin, name, async () => {
    await Promise.all(Array.from({ length: count }, (_, i) => databases.registry.accept([`hash-${i}`])))
  })
  await databases.close()
  await admin?.close()
  await database?.drop()
  await rm(dir, { recursive: true, force: true })
}
