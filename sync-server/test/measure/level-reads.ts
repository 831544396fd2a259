/**
 * CPU per LevelDB read and write as the server issues them (classic-level, small JSON
 * values): the asynchronous get against getSync, hit and miss, and put and batch.
 * node --import tsx sync-server/test/measure/level-reads.ts
 */
import { ClassicLevel } from 'classic-level'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const N = 5000
const dir = await mkdtemp(join(tmpdir(), 'parley-level-reads-'))
const db = new ClassicLevel<string, unknown>(dir, { valueEncoding: 'json' })
await db.open()
for (let i = 0; i < 10_000; i++) await db.put(`id:c:${i}`, i)

async function measure(label: string, op: (i: number) => unknown): Promise<void> {
  const start = process.cpuUsage()
  for (let i = 0; i < N; i++) await op(i)
  const used = process.cpuUsage(start)
  console.log(`${label.padEnd(14)} ${((used.user + used.system) / N).toFixed(1)} µs CPU per call`)
}

await measure('get, miss', i => db.get(`id:c:x${i}`))
await measure('get, hit', i => db.get(`id:c:${i}`))
await measure('getSync, miss', i => db.getSync(`id:c:x${i}`))
await measure('getSync, hit', i => db.getSync(`id:c:${i}`))
await measure('put', i => db.put(`k${i}`, { a: i }))
await measure('batch of 2', i => db.batch([{ type: 'put', key: `b${i}`, value: i }, { type: 'put', key: `bb${i}`, value: i }]))
await db.close()
await rm(dir, { recursive: true, force: true })
