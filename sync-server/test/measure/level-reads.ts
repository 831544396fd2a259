/**
 * CPU per LevelDB read and write as the server issues them (classic-level, small JSON
 * values): the asynchronous get against getSync, hit and miss, and put and batch; a put
 * on one database and a batch on another at once, as each message made until 2026-12-08
 * (its change in the documents database, its numbering in a database of its own; now
 * one batch: storage/merge-events.ts); and a round trip through
 * libuv's thread pool that does nothing (fs access), the share of a write that is handing
 * it to a pool thread and back.
 * node --import tsx sync-server/test/measure/level-reads.ts
 */
import { ClassicLevel } from 'classic-level'
import { access, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const N = 5000
const dir = await mkdtemp(join(tmpdir(), 'parley-level-reads-'))
const db = new ClassicLevel<string, unknown>(join(dir, 'db'), { valueEncoding: 'json' })
const other = new ClassicLevel<string, unknown>(join(dir, 'other'), { valueEncoding: 'json' })
await db.open()
await other.open()
for (let i = 0; i < 10_000; i++) await db.put(`id:c:${i}`, i)

async function measure(label: string, op: (i: number) => unknown): Promise<void> {
  const start = process.cpuUsage()
  for (let i = 0; i < N; i++) await op(i)
  const used = process.cpuUsage(start)
  console.log(`${label.padEnd(28)} ${((used.user + used.system) / N).toFixed(1)} µs CPU per call`)
}

await measure('get, miss', i => db.get(`id:c:x${i}`))
await measure('get, hit', i => db.get(`id:c:${i}`))
await measure('getSync, miss', i => db.getSync(`id:c:x${i}`))
await measure('getSync, hit', i => db.getSync(`id:c:${i}`))
await measure('put', i => db.put(`k${i}`, { a: i }))
await measure('batch of 2', i => db.batch([{ type: 'put', key: `b${i}`, value: i }, { type: 'put', key: `bb${i}`, value: i }]))
await measure('put + batch, two databases', i => Promise.all([db.put(`p${i}`, { a: i }), other.batch([{ type: 'put', key: `o${i}`, value: i }, { type: 'put', key: `oo${i}`, value: i }])]))
await measure('pool round trip', () => access(dir))
await other.close()
await db.close()
await rm(dir, { recursive: true, force: true })
