/**
 * Preloaded into a server process (`node --import`) by `bench:latency -- --only <system>
 * --count-async`: counts the async resources the process creates, by type (PROMISE,
 * TickObject, Timeout, thread-pool requests such as classic_level.db.put), and writes the
 * counts as JSON to the file named by BENCH_ASYNC_COUNTS on each SIGUSR2, with the
 * signal's number so the reader knows the file is fresh. Promises per message is a figure
 * of the glue around the work (async functions, awaits, promise chains) that, unlike CPU
 * time, does not move with the machine's load.
 */
import { createHook } from 'node:async_hooks'
import { writeFileSync } from 'node:fs'

const file = process.env.BENCH_ASYNC_COUNTS
const counts = new Map()
let snapshots = 0
if (file) {
  createHook({ init: (_id, type) => void counts.set(type, (counts.get(type) ?? 0) + 1) }).enable()
  process.on('SIGUSR2', () => writeFileSync(file, JSON.stringify({ snapshot: ++snapshots, counts: Object.fromEntries(counts) })))
}
