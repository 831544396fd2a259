/**
 * npm run bench:latency [-- --quick]
 *
 * One-to-one delivery latency, one message at a time: the sender's send → the
 * receiver's callback, with server, sender and receiver in three processes. Each text
 * carries the sender's CLOCK_MONOTONIC time, so the receiver measures one-way latency
 * without clock skew. Raw ws relay (the floor), Socket.IO (a push server, nothing
 * stored), Hocuspocus + Yjs, stock automerge-repo and Parley run in the same run on the
 * same machine. Two more Parley rows have the receiver mark each message read as it
 * arrives, as the web app does: with the client's read-cursor interval, and with every
 * move written at once (clients/sdk/src/read-cursor.ts). Others: the sender typing
 * before each message; the receiver a plain Automerge peer instead of the client library
 * (latency/systems/parley-lean.ts); segments on the Repo (--no-relay-core).
 */
import { SignJWT } from 'jose'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cpuByThread, cpuSeconds, cpuSplit, forkWorker, freePort, nextMessage, peakRssMiB, spawnServer, stop, withTimeout, type ThreadCpu } from './lib/processes.ts'
import { renderTable, writeResults } from './lib/results.ts'
import { summarize, type Summary } from './lib/stats.ts'
import { SYSTEMS, type SystemKey } from './latency/systems.ts'
import type { Frames } from './latency/systems/system.ts'
import { QUICK } from './lib/args.ts'
import { DEFAULT_READ_CURSOR_INTERVAL_MS } from '@parley/client'

/**
 * `--only parley` measures one system and writes nothing: for profiling runs. With it,
 * `--count-async` also counts the async resources the server creates per message
 * (lib/count-async.mjs; a Node server only).
 */
const ONLY = process.argv.includes('--only') ? (process.argv[process.argv.indexOf('--only') + 1] as SystemKey) : undefined
/**
 * BENCH_LATENCY_LOG=file writes one JSON line per message (index, send time in CLOCK_MONOTONIC
 * ns, latency): with BENCH_PROFILE_DIR's profiles (V8 stamps samples with the same clock), the
 * slow messages can be matched to what each process was doing (latency/slow-messages.ts).
 */
const LATENCY_LOG = process.env.BENCH_LATENCY_LOG
/** With `--only`: the async resources (promises above all) the server creates per message, counted by lib/count-async.mjs. */
const COUNT_ASYNC = ONLY !== undefined && process.argv.includes('--count-async')
const COUNTER = fileURLToPath(new URL('./lib/count-async.mjs', import.meta.url))
const SECRET = 'benchmark-secret-not-for-production'
const WORKER = fileURLToPath(new URL('./latency/worker.ts', import.meta.url))
const MESSAGE_TIMEOUT_MS = 10_000
/**
 * Measured in the steady state a long-running server is in: the warm-up runs until every
 * server's hot path is compiled. With 50 warm-up messages (before 2026-12-05, third session)
 * the measured thousand still paid for V8 compiling the server's code on its background
 * threads: Parley showed 1.7–2.1 ms of CPU per message then, 0.8–1.0 ms once warm, and
 * Hocuspocus 0.6 then, 0.17 once warm. After 3,000 (until 2026-12-06) V8 was still
 * optimizing Parley's less frequent functions on those threads (code-creation events in
 * `--log-code` at 8–30 a second to the end): 0.27–0.31 ms per message off the main thread,
 * 0.14 after 10,000 (`--only parley` prints the split), the main thread's share unchanged;
 * Hocuspocus's others stayed at 0.00–0.01. Stock automerge-repo throttles sync to 100 ms
 * per hop, so it gets fewer messages.
 */
const FULL = { warmup: QUICK ? 300 : 10_000, measured: QUICK ? 200 : 1000 }
/** In table order. */
const PLAN: Record<SystemKey, { warmup: number; measured: number }> = {
  raw: FULL,
  socketio: FULL,
  hocuspocus: FULL,
  stock: { warmup: 5, measured: QUICK ? 30 : 150 },
  parley: FULL,
  parleyReading: FULL,
  parleyReadingAtOnce: FULL,
  parleyTyping: FULL,
  parleyLean: FULL,
  parleyRepo: FULL,
}

interface Row {
  system: string
  latency: Summary
  serverCpuMsPerMessage: number
  serverPeakRssMiB: number
}

const token = (user: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))


async function measure(key: SystemKey): Promise<Row> {
  const system = SYSTEMS[key]
  const { warmup, measured } = PLAN[key]
  const port = await freePort()
  const dataDir = await mkdtemp(join(tmpdir(), `parley-bench-${key}-`))
  const { command, args } = system.serverCommand(port, dataDir, SECRET)
  const countsFile = join(dataDir, 'async-counts.json')
  let server: ChildProcess | undefined
  const workers: ChildProcess[] = []
  try {
    server = COUNT_ASYNC ? await spawnServer(command, ['--import', COUNTER, ...args], { BENCH_ASYNC_COUNTS: countsFile }) : await spawnServer(command, args)
    const url = `ws://127.0.0.1:${port}${system.path ?? ''}`
    const sender = forkWorker(WORKER, [key, 'sender', url, await token('sender')])
    const receiver = forkWorker(WORKER, [key, 'receiver', url, await token('receiver')])
    workers.push(sender, receiver)
    await withTimeout(Promise.all([nextMessage(sender, 'connected'), nextMessage(receiver, 'connected')]), 'clients to connect', MESSAGE_TIMEOUT_MS)
    sender.send({ type: 'create' })
    const { id } = await withTimeout(nextMessage<{ id: string }>(sender, 'created'), 'the conversation', MESSAGE_TIMEOUT_MS)
    receiver.send({ type: 'open', id })
    await withTimeout(nextMessage(receiver, 'ready'), 'the receiver to open it', MESSAGE_TIMEOUT_MS)

    const latencies: number[] = []
    const log: string[] = []
    let cpuStart = 0
    let splitStart = { user: 0, system: 0 }
    let framesStart: Frames | undefined
    let clientsStart = [0, 0]
    // Read when the warm-up ends.
    let threadsStart!: ThreadCpu
    let clientThreadsStart!: ThreadCpu[]
    let asyncStart: Record<string, number> = {}
    for (let index = 0; index < warmup + measured; index++) {
      if (index === warmup) {
        cpuStart = cpuSeconds(server.pid!)
        splitStart = cpuSplit(server.pid!)
        clientsStart = [cpuSeconds(sender.pid!), cpuSeconds(receiver.pid!)]
        threadsStart = cpuByThread(server.pid!)
        clientThreadsStart = [cpuByThread(sender.pid!), cpuByThread(receiver.pid!)]
        framesStart = await system.frames?.(port)
        if (COUNT_ASYNC) asyncStart = await asyncCounts(server, countsFile)
      }
      const got = nextMessage<{ index: number; latencyMs: number; sent: string }>(receiver, 'got')
      sender.send({ type: 'send', index })
      const { latencyMs, sent } = await withTimeout(got, `message ${index}`, MESSAGE_TIMEOUT_MS)
      if (index >= warmup) latencies.push(latencyMs)
      if (LATENCY_LOG) log.push(`${JSON.stringify({ index, sentNs: sent, latencyMs })}\n`)
    }
    const cpuMs = (cpuSeconds(server.pid!) - cpuStart) * 1000
    if (LATENCY_LOG) await writeFile(LATENCY_LOG, log.join(''))
    const framesEnd = await system.frames?.(port)
    const splitEnd = cpuSplit(server.pid!)
    const threadsEnd = cpuByThread(server.pid!)
    if (ONLY) process.stderr.write(`server CPU per message: ${(((splitEnd.user - splitStart.user) * 1000) / measured).toFixed(2)} ms user, ${(((splitEnd.system - splitStart.system) * 1000) / measured).toFixed(2)} ms system\n`)
    if (ONLY) process.stderr.write(`server CPU per message by thread: ${(((threadsEnd.main - threadsStart.main) * 1000) / measured).toFixed(2)} ms main, ${(((threadsEnd.others - threadsStart.others) * 1000) / measured).toFixed(2)} ms others\n`)
    const sleeps = (start: ThreadCpu, end: ThreadCpu) => `${((end.mainSwitches - start.mainSwitches) / measured).toFixed(2)} main, ${((end.otherSwitches - start.otherSwitches) / measured).toFixed(2)} others`
    if (ONLY) process.stderr.write(`server threads going to sleep per message: ${sleeps(threadsStart, threadsEnd)}\n`)
    if (ONLY) process.stderr.write(`client threads going to sleep per message: sender ${sleeps(clientThreadsStart[0]!, cpuByThread(sender.pid!))}; receiver ${sleeps(clientThreadsStart[1]!, cpuByThread(receiver.pid!))}\n`)
    if (ONLY) process.stderr.write(`client CPU per message: sender ${(((cpuSeconds(sender.pid!) - clientsStart[0]!) * 1000) / measured).toFixed(2)} ms, receiver ${(((cpuSeconds(receiver.pid!) - clientsStart[1]!) * 1000) / measured).toFixed(2)} ms\n`)
    if (COUNT_ASYNC) {
      const end = await asyncCounts(server, countsFile)
      const perMessage = Object.entries(end).map(([type, count]) => [type, (count - (asyncStart[type] ?? 0)) / measured] as const)
      process.stderr.write(`async resources per message: ${perMessage.filter(([, count]) => count >= 0.05).map(([type, count]) => `${type} ${count.toFixed(2)}`).join(', ')}\n`)
    }
    if (ONLY && framesStart && framesEnd) process.stderr.write(`frames per message: ${((framesEnd.in - framesStart.in) / measured).toFixed(2)} in, ${((framesEnd.out - framesStart.out) / measured).toFixed(2)} out\n`)
    const row = { system: system.name, latency: summarize(latencies), serverCpuMsPerMessage: Math.round((cpuMs / measured) * 100) / 100, serverPeakRssMiB: peakRssMiB(server.pid!) }
    for (const worker of workers) worker.send({ type: 'close', measured })
    return row
  } finally {
    await Promise.all([...workers.map(stop), stop(server)])
    await rm(dataDir, { recursive: true, force: true })
  }
}

/** The server's async-resource counts so far (lib/count-async.mjs writes them on SIGUSR2). */
async function asyncCounts(server: ChildProcess, file: string): Promise<Record<string, number>> {
  const before = await readFile(file, 'utf8').then(text => (JSON.parse(text) as { snapshot: number }).snapshot, () => 0)
  server.kill('SIGUSR2')
  for (let tries = 0; tries < 200; tries++) {
    await new Promise(resolve => setTimeout(resolve, 5))
    const read = await readFile(file, 'utf8').then(text => JSON.parse(text) as { snapshot: number; counts: Record<string, number> }, () => undefined)
    if (read && read.snapshot > before) return read.counts
  }
  throw new Error('the server wrote no async-resource counts (was it started with lib/count-async.mjs?)')
}

const results = {} as Record<SystemKey, Row>
for (const key of Object.keys(PLAN) as SystemKey[]) {
  if (ONLY && key !== ONLY) continue
  process.stderr.write(`latency: ${SYSTEMS[key].name} (${PLAN[key].measured} messages after ${PLAN[key].warmup} warm-up)…\n`)
  results[key] = await measure(key)
}
const rows = Object.values(results)
if (ONLY) {
  console.log(rows.map(row => ({ system: row.system, ...row.latency, serverCpuMsPerMessage: row.serverCpuMsPerMessage })))
  process.exit(0)
}
const { raw, socketio, hocuspocus, stock, parley: ours, parleyReading: reading, parleyReadingAtOnce: readingAtOnce, parleyTyping: typing, parleyLean: lean, parleyRepo: repoPath } = results
const table = renderTable({
  headers: ['system', 'messages', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'mean ms', 'server CPU ms/msg', 'server peak RSS MiB'],
  rows: rows.map(row => [row.system, row.latency.count, row.latency.p50, row.latency.p90, row.latency.p99, row.latency.max, row.latency.mean, row.serverCpuMsPerMessage, row.serverPeakRssMiB]),
})
const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}×`
const ratios = [
  `- Parley p50 is ${ratio(ours.latency.p50, raw.latency.p50)} the raw relay's (p99 ${ratio(ours.latency.p99, raw.latency.p99)}).`,
  `- Parley p50 is ${ratio(ours.latency.p50, socketio.latency.p50)} Socket.IO's (p99 ${ratio(ours.latency.p99, socketio.latency.p99)}).`,
  `- Parley p50 is ${ratio(ours.latency.p50, hocuspocus.latency.p50)} Hocuspocus + Yjs's (p99 ${ratio(ours.latency.p99, hocuspocus.latency.p99)}).`,
  `- Stock automerge-repo p50 is ${ratio(stock.latency.p50, ours.latency.p50)} Parley's (p99 ${ratio(stock.latency.p99, ours.latency.p99)}).`,
  `- Parley's server CPU per message is ${ratio(ours.serverCpuMsPerMessage, hocuspocus.serverCpuMsPerMessage)} Hocuspocus's, and ${ratio(ours.serverCpuMsPerMessage, repoPath.serverCpuMsPerMessage)} its own with segments on the Repo (--no-relay-core, p50 ${ratio(ours.latency.p50, repoPath.latency.p50)}).`,
  `- With the receiver marking each message read as it arrives, as the web app does (each move of its read cursor a read event in the conversation's segment), Parley's server CPU per message is ${ratio(reading.serverCpuMsPerMessage, ours.serverCpuMsPerMessage)} and its p50 ${ratio(reading.latency.p50, ours.latency.p50)} those without, the client writing its cursor at most once per ${DEFAULT_READ_CURSOR_INTERVAL_MS / 1000} s (clients/sdk/src/read-cursor.ts); writing every move at once, ${ratio(readingAtOnce.serverCpuMsPerMessage, ours.serverCpuMsPerMessage)} and ${ratio(readingAtOnce.latency.p50, ours.latency.p50)}.`,
  `- With the receiver a plain Automerge peer (Automerge's own sync on the segment, no client library: latency/systems/parley-lean.ts) and the same server and sender, Parley's p50 is ${ratio(lean.latency.p50, ours.latency.p50)} that with the client library receiving (p99 ${ratio(lean.latency.p99, ours.latency.p99)}): what the library costs the receiving side.`,
  `- With the sender typing before each message, as the web app's composer signals it ("typing" as the next message starts, one ephemeral message relayed per message; the message ends it), Parley's server CPU per message is ${ratio(typing.serverCpuMsPerMessage, ours.serverCpuMsPerMessage)} and its p50 ${ratio(typing.latency.p50, ours.latency.p50)} those without.`,
].join('\n')
const command = `npm run bench:latency${QUICK ? ' -- --quick' : ''}`
console.log(`\n${table}\n\n${ratios}\n`)
const json = await writeResults(
  'latency',
  command,
  rows,
  `One-to-one, one message at a time, send → receiver callback; server, sender and receiver in separate processes; ~100-byte texts. Measured after ${FULL.warmup} warm-up messages, in the steady state (with 50, as before 2026-12-05's third session, the measured messages still paid for V8 compiling the servers' code). Socket.IO stores nothing; Hocuspocus writes each document's state to a file with its default store debounce (2 s, at most 10 s apart), off the delivery path; automerge-repo and Parley store every change. Stock automerge-repo runs fewer messages: each waits out its 100 ms sync throttle. The row “sender typing” signals typing as the web app’s composer does: “typing” as the next message starts, an ephemeral message on the conversation’s head that the server relays to the receiver; the message itself ends it (until 2026-12-07 a “stopped” went too). The rows “receiver marking read” mark each message read on arrival, as the web app does while a conversation is visible: each move of the read cursor is a read event appended to the conversation’s segment, which the server checks, stores and sends on to every member as it does a message (until 2026-12-07 it was a change to the conversation’s head document, on the server’s Repo path, and cost 5.8 ms of server CPU per message with every move written).\n\n${table}\n\n${ratios}`,
)
console.log(`wrote ${json} and RESULTS.md`)
process.exit(0)
