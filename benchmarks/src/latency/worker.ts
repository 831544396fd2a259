/**
 * One benchmark process: a baseline server, or a sender or receiver client. Clients
 * take orders over IPC; the message itself only ever travels through the server.
 */
import { writeFileSync } from 'node:fs'
import { PerformanceObserver, performance } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'
import { ClientSplit } from './client-split.ts'
import { SERVERS, SYSTEMS, type SystemKey } from './systems.ts'

// BENCH_WORKER_V8_FLAGS="--trace-deopt" (V8 flags settable at run time, which NODE_OPTIONS refuses) for every worker.
if (process.env.BENCH_WORKER_V8_FLAGS) setFlagsFromString(process.env.BENCH_WORKER_V8_FLAGS)

type Order = { type: 'create' } | { type: 'open'; id: string } | { type: 'send'; index: number } | { type: 'close'; measured?: number }

const [argSystem, role, ...rest] = process.argv.slice(2)

/**
 * BENCH_GC_LOG=prefix: each client writes its garbage collections to prefix.<role>.jsonl
 * when it closes (start in CLOCK_MONOTONIC ns, the clock of BENCH_LATENCY_LOG; duration in
 * ms; V8's kind: 1 minor, 2 major, 4 incremental, 8 weak callbacks), so slow messages can
 * be matched to pauses (latency/slow-messages.ts).
 */
const gcLog: string[] = []
if (process.env.BENCH_GC_LOG && role !== 'server') {
  // performance.now() and hrtime run on the same monotonic clock, from different origins.
  const originNs = process.hrtime.bigint() - BigInt(Math.round(performance.now() * 1e6))
  new PerformanceObserver(list => {
    for (const entry of list.getEntries()) {
      const startNs = originNs + BigInt(Math.round(entry.startTime * 1e6))
      gcLog.push(`${JSON.stringify({ startNs: String(startNs), ms: entry.duration, kind: (entry as { detail?: { kind?: number } }).detail?.kind })}\n`)
    }
  }).observe({ entryTypes: ['gc'] })
}
function writeGcLog(): void {
  if (process.env.BENCH_GC_LOG && role !== 'server') writeFileSync(`${process.env.BENCH_GC_LOG}.${role}.jsonl`, gcLog.join(''))
}
const system = argSystem as SystemKey
const split = process.env.BENCH_CLIENT_SPLIT && role !== 'server' ? new ClientSplit() : undefined
const PAD = 'x'.repeat(100)

/** `index|hrtime-ns|` padded to 100 bytes: CLOCK_MONOTONIC is shared by every process. */
function stampedText(index: number): string {
  return `${index}|${process.hrtime.bigint()}|${PAD}`.slice(0, 100)
}

async function client(url: string, token: string): Promise<void> {
  const side = await SYSTEMS[system].client(url, token)
  const reply = (message: object) => process.send!(message)
  process.on('message', async (order: Order) => {
    if (order.type === 'create') reply({ type: 'created', id: await side.create() })
    if (order.type === 'open') {
      await side.open(order.id, text => {
        const [index, sent] = text.split('|')
        const latencyMs = Number(process.hrtime.bigint() - BigInt(sent!)) / 1e6
        split?.received()
        // `sent` (CLOCK_MONOTONIC ns) places the message on a CPU profile's clock (BENCH_LATENCY_LOG).
        reply({ type: 'got', index: Number(index), latencyMs, sent })
      })
      reply({ type: 'ready' })
    }
    if (order.type === 'send') {
      split?.sending()
      await side.send(stampedText(order.index))
    }
    if (order.type === 'close') {
      if (split) process.stderr.write(`${split.summary(role!, order.measured)}\n`)
      writeGcLog()
      await side.close()
      process.exit(0)
    }
  })
  reply({ type: 'connected' })
}

// A clean exit on SIGTERM, so --cpu-prof (BENCH_PROFILE_DIR) gets written.
process.on('SIGTERM', () => {
  writeGcLog()
  process.exit(0)
})

if (role === 'server') {
  await SERVERS[system]!(Number(rest[0]), rest[1]!)
} else {
  await client(rest[0]!, rest[1] ?? '')
}
