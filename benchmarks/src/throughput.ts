/**
 * npm run bench:throughput [-- --quick] [--only parley,raw] [--conversations N]
 *
 * Many conversations, many senders: C conversations of two members each (one sender, one
 * receiver), the members spread over two load-generator processes (throughput/worker.ts),
 * the server in its own process. Open-loop offered load at a fixed aggregate rate, on a
 * ladder of rates (the last, 10,000 messages/s, is the target: delivered at that rate
 * with p99 ≤ 250 ms, sustained 60 s), so the table shows where each system stops keeping
 * up. Per (system, rate): messages sent and delivered per second, latency (arrival − send,
 * clocks as in fanout/timing.ts), latency of the last messages sent, what was still
 * undelivered after a bounded drain, server and load-generator CPU, server peak RSS.
 *
 * A system runs its steps on one server while it keeps up (everything delivered within
 * the drain, at ≥ 95 % of the offered rate). After a step it could not keep up with, the
 * steps below the target are skipped and the target runs on a fresh server, so no
 * backlog leaks into it; --quick stops the system's ladder there instead, to stay short.
 * `--only parley,raw` runs some systems and writes nothing.
 */
import { loadavg } from 'node:os'
import { SYSTEMS } from './latency/systems.ts'
import { nextMessage, peakRssMiB, withTimeout } from './lib/processes.ts'
import { renderTable, writeResults } from './lib/results.ts'
import { round, summarize } from './lib/stats.ts'
import { cpuMs, now, sleep } from './fanout/timing.ts'
import { startSystem, type StepReport, type SystemRun } from './throughput/run.ts'
import { CHECK_EVERY, THROUGHPUT_SYSTEMS, type ThroughputKey } from './throughput/systems.ts'
import { QUICK, selectedSystems } from './lib/args.ts'

const WORKERS = 2
const flag = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined)
/**
 * Conversations. Parley's segments hold 1,000 events and these members do not roll over
 * to a new one, so the notes say how many events a conversation carried at most (Parley's
 * Automerge senders reach ~1,500 messages/s here, far under the offered 10,000).
 */
const CONVERSATIONS = Number(flag('--conversations') ?? (QUICK ? 100 : 200))
const TARGET = { rate: 10_000, p99Ms: 250 }
const STEPS = QUICK
  ? [300, 3_000, 10_000].map(rate => ({ rate, seconds: 3 }))
  : [...[300, 1_000, 3_000].map(rate => ({ rate, seconds: 15 })), { rate: TARGET.rate, seconds: 60 }]
const DRAIN_MS = QUICK ? 2_000 : 10_000
/** A step is kept up with when everything arrived within the drain and arrivals during the step reached this share of the offered rate. */
const KEPT_UP_SHARE = 0.95
const WARMUP_TIMEOUT_MS = 60_000
const ALL: ThroughputKey[] = ['raw', 'socketio', 'hocuspocus', 'stock', 'parley']
const ORDER = selectedSystems(ALL)

interface Row {
  system: string
  key: ThroughputKey
  offered: number
  seconds: number
  /** Not run: the system had not kept up at this lower rate. */
  skipped?: number
  sentPerSecond: number
  /** Deliveries that arrived during the step, per second. */
  deliveredPerSecond: number
  sent: number
  undelivered: number
  keptUp: boolean
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** p50 of the messages sent in the step's last tenth. */
  endP50Ms: number
  /** How late the generator sent, behind its schedule. */
  generatorLagP99Ms: number
  serverCpuShare: number
  /** Server CPU per message that arrived during the step. */
  serverCpuMsPerMessage: number
  generatorCpuShare: number
  serverPeakRssMiB: number
  drainSeconds: number
  freshServer: boolean
  maxClockOffsetMs: number
  /** 1-minute load average when the step ended (the machine is shared). */
  loadAverage: number
  /** Messages sent per conversation on this server so far, warm-up included: events in its one segment. */
  eventsPerConversation: number
  /** Parley's replaying generator: messages sent to the real-client receivers, and those missing from their documents after the drain. */
  checked?: number
  checkMissing?: number
}

type Report = StepReport

const log = (text: string) => process.stderr.write(text)

/**
 * Messages per conversation a server may be sent: the warm-up's one, then every step's
 * share (message n of a step goes to conversation n mod C). Parley's generator records
 * this many per conversation beforehand (throughput/replay-worker.ts).
 */
function plan(): number[] {
  const counts = new Array<number>(CONVERSATIONS).fill(1)
  for (const { rate, seconds } of STEPS) {
    const total = Math.floor(rate * seconds)
    for (let c = 0; c < CONVERSATIONS; c++) counts[c]! += Math.floor(total / CONVERSATIONS) + (c < total % CONVERSATIONS ? 1 : 0)
  }
  return counts
}

function ask<T>(run: SystemRun, type: 'progress' | 'report'): Promise<T[]> {
  return Promise.all(
    run.workers.map(worker => {
      const reply = nextMessage<T>(worker, type)
      worker.send({ type })
      return withTimeout(reply, `a worker's ${type}`, 60_000)
    }),
  )
}

/** Sends at `rate` for `seconds` from every sender, then waits at most `drainMs` for the deliveries. */
async function step(run: SystemRun, index: number, rate: number, seconds: number, drainMs: number, count?: number) {
  const start = now() + 300
  const durationMs = seconds * 1000
  run.workers.forEach((worker, w) => worker.send({ type: 'step', step: index, start, durationMs, rate, count, conversations: CONVERSATIONS, offset: run.offsets[w] }))
  const pids = run.workers.map(worker => worker.pid!)
  await sleep(start - now())
  const server0 = cpuMs(run.server.pid!)
  const workers0 = pids.map(cpuMs)
  await sleep(start + durationMs - now())
  const serverCpuMs = cpuMs(run.server.pid!) - server0
  const workersCpuMs = pids.reduce((sum, pid, i) => sum + cpuMs(pid) - workers0[i]!, 0)
  const ended = now()
  for (;;) {
    const progress = await ask<{ sent: number; delivered: number }>(run, 'progress')
    const sent = progress.reduce((a, p) => a + p.sent, 0)
    if (progress.reduce((a, p) => a + p.delivered, 0) >= sent || now() - ended >= drainMs) break
    await sleep(100)
  }
  const drainSeconds = round((now() - ended) / 1000)
  const reports = run.collect ? await run.collect() : await ask<Report>(run, 'report')
  for (const report of reports) {
    for (const failure of report.failures ?? []) log(`\nthroughput: ${run.name}: a member failed: ${failure}\n`)
    for (const sample of report.checkMissingSample ?? []) log(`\nthroughput: ${run.name}: missing in a real client's document: ${sample}\n`)
  }
  return { durationMs, serverCpuMs, workersCpuMs, drainSeconds, reports }
}

/** Warm-ups that did not deliver everything (a delivery failure, reported, not thrown: the ladder still runs). */
const warmUpFailures: string[] = []

/** One message in every conversation, all delivered (else reported): members wired, JIT warm. */
async function warmUp(run: SystemRun): Promise<void> {
  const { reports } = await step(run, 0, CONVERSATIONS, 1, WARMUP_TIMEOUT_MS, CONVERSATIONS)
  const delivered = reports.reduce((a, r) => a + r.delivered, 0)
  if (delivered === CONVERSATIONS) return
  warmUpFailures.push(`${run.name}: ${delivered} of ${CONVERSATIONS} warm-up messages arrived within ${WARMUP_TIMEOUT_MS / 1000} s`)
  log(`\nthroughput: ${warmUpFailures.at(-1)}\n`)
}

async function measure(run: SystemRun, key: ThroughputKey, index: number, rate: number, seconds: number, freshServer: boolean, sentBefore: number): Promise<Row> {
  const { durationMs, serverCpuMs, workersCpuMs, drainSeconds, reports } = await step(run, index, rate, seconds, DRAIN_MS)
  const sent = reports.reduce((a, r) => a + r.sent, 0)
  const delivered = reports.reduce((a, r) => a + r.delivered, 0)
  const sentAt = reports.flatMap(r => r.sentAt)
  const latency = reports.flatMap(r => r.latency)
  const inWindow = sentAt.filter((t, i) => t + latency[i]! <= durationMs).length
  const end = latency.filter((_, i) => sentAt[i]! >= durationMs * 0.9)
  const all = latency.length ? summarize(latency) : undefined
  return {
    system: run.name,
    key,
    offered: rate,
    seconds,
    sentPerSecond: Math.round(sent / seconds),
    deliveredPerSecond: Math.round(inWindow / seconds),
    sent,
    undelivered: sent - delivered,
    keptUp: delivered === sent && inWindow >= rate * seconds * KEPT_UP_SHARE,
    p50Ms: round(all?.p50 ?? Number.NaN),
    p99Ms: round(all?.p99 ?? Number.NaN),
    maxMs: round(all?.max ?? Number.NaN),
    endP50Ms: round(end.length ? summarize(end).p50 : Number.NaN),
    generatorLagP99Ms: round(summarize(reports.flatMap(r => r.lag)).p99),
    serverCpuShare: round(serverCpuMs / durationMs, 2),
    serverCpuMsPerMessage: round(serverCpuMs / Math.max(1, inWindow), 2),
    generatorCpuShare: round(workersCpuMs / durationMs, 2),
    serverPeakRssMiB: peakRssMiB(run.server.pid!),
    drainSeconds,
    freshServer,
    maxClockOffsetMs: round(Math.max(...run.offsets.map(Math.abs)), 3),
    loadAverage: round(loadavg()[0]!, 2),
    eventsPerConversation: Math.ceil((sentBefore + sent) / CONVERSATIONS),
    ...(reports.some(r => r.checked !== undefined) ? { checked: reports.reduce((a, r) => a + (r.checked ?? 0), 0), checkMissing: reports.reduce((a, r) => a + (r.checkMissing ?? 0), 0) } : {}),
  }
}

async function ladder(key: ThroughputKey): Promise<Row[]> {
  const rows: Row[] = []
  const name = SYSTEMS[THROUGHPUT_SYSTEMS[key].server].name
  const start = async () => {
    const t0 = performance.now()
    log(`throughput: ${name}: ${CONVERSATIONS} conversations, ${2 * CONVERSATIONS} members… `)
    const run = await startSystem(key, CONVERSATIONS, WORKERS, key === 'parley' ? plan() : undefined)
    await warmUp(run)
    log(`ready in ${round((performance.now() - t0) / 1000)} s\n`)
    return run
  }
  let run = await start()
  let fresh = true
  /** Messages sent on the current server, warm-up included. */
  let sentOnServer = CONVERSATIONS
  let saturatedAt: number | undefined
  try {
    for (const [index, { rate, seconds }] of STEPS.entries()) {
      if (saturatedAt !== undefined && (QUICK || index < STEPS.length - 1)) {
        rows.push({ system: name, key, offered: rate, seconds, skipped: saturatedAt } as Row)
        continue
      }
      if (!fresh && saturatedAt !== undefined) {
        await run.close()
        run = await start()
        fresh = true
        sentOnServer = CONVERSATIONS
      }
      log(`throughput: ${name} at ${rate} messages/s for ${seconds} s… `)
      const row = await measure(run, key, index + 1, rate, seconds, fresh, sentOnServer)
      sentOnServer += row.sent
      fresh = false
      log(`delivered ${row.deliveredPerSecond}/s, p99 ${row.p99Ms} ms, ${row.undelivered} undelivered after ${row.drainSeconds} s\n`)
      rows.push(row)
      if (!row.keptUp) saturatedAt ??= rate
    }
  } finally {
    await run.close()
  }
  return rows
}

const started = performance.now()
const rows: Row[] = []
for (const key of ORDER) {
  const t0 = performance.now()
  rows.push(...(await ladder(key)))
  log(`throughput: ${key} took ${round((performance.now() - t0) / 1000)} s\n`)
}

const fmt = (value: number) => (Number.isNaN(value) ? '—' : value.toLocaleString('en-US'))
const table = renderTable({
  headers: ['system', 'offered msg/s', 's', 'sent msg/s', 'delivered msg/s', 'p50 ms', 'p99 ms', 'p50 of last 10 % ms', 'undelivered at end', 'server CPU share', 'server CPU ms/msg', 'generator CPU share', 'server peak RSS MiB'],
  rows: rows.map(row =>
    row.skipped !== undefined
      ? [row.system, fmt(row.offered), row.seconds, `not run: did not keep up at ${fmt(row.skipped)}`, '', '', '', '', '', '', '', '', '']
      : [row.system, fmt(row.offered), row.seconds, fmt(row.sentPerSecond), fmt(row.deliveredPerSecond), fmt(row.p50Ms), fmt(row.p99Ms), fmt(row.endP50Ms), fmt(row.undelivered), row.serverCpuShare, row.serverCpuMsPerMessage, row.generatorCpuShare, row.serverPeakRssMiB],
  ),
})
const took = `took ${round((performance.now() - started) / 1000)} s`
if (ORDER.length < ALL.length) {
  const checks = ORDER.includes('parley') ? `\n\nParley's real-client receivers: ${checkSummary()}.` : ''
  console.log(`\n${table}${checks}\n\n${took} (--only: nothing written)`)
  process.exit(0)
}

const at = (key: ThroughputKey, rate: number) => rows.find(row => row.key === key && row.offered === rate && row.skipped === undefined)
const times = (r: number) => `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toPrecision(2)}×`
const ratio = (ours: number | undefined, theirs: number | undefined) => (ours === undefined || theirs === undefined || !theirs ? '' : ` (Parley ${times(ours / theirs)})`)
const sideBySide = (metric: 'deliveredPerSecond' | 'p99Ms') =>
  renderTable({
    headers: ['offered msg/s', ...ALL.map(key => SYSTEMS[THROUGHPUT_SYSTEMS[key].server].name)],
    rows: STEPS.map(({ rate }) => {
      const ours = at('parley', rate)?.[metric]
      return [fmt(rate), ...ALL.map(key => (at(key, rate) ? `${fmt(at(key, rate)![metric])}${key === 'parley' ? '' : ratio(ours, at(key, rate)![metric])}` : 'not run'))]
    }),
  })
const target = at('parley', TARGET.rate)
/** The raw relay's highest step run: where the generator's ceiling shows. */
const rawTop = rows.filter(row => row.key === 'raw' && row.skipped === undefined).at(-1)!
const met = target !== undefined && target.keptUp && target.deliveredPerSecond >= TARGET.rate * 0.99 && target.p99Ms <= TARGET.p99Ms
const parleyStoppedAt = rows.find(row => row.key === 'parley' && row.offered === TARGET.rate)!.skipped
const verdict = [
  target
    ? `- Target, Parley ≥ ${fmt(TARGET.rate)} messages/s delivered with p99 ≤ ${TARGET.p99Ms} ms: ${fmt(target.deliveredPerSecond)} messages/s delivered, p99 ${fmt(target.p99Ms)} ms, ${fmt(target.undelivered)} undelivered at the end: ${met ? (QUICK ? `held for ${target.seconds} s (--quick; the target is 60 s)` : 'met') : `missed${QUICK ? ` (already in a ${target.seconds}-s --quick step)` : ''}`}.`
    : `- Target, Parley ≥ ${fmt(TARGET.rate)} messages/s delivered with p99 ≤ ${TARGET.p99Ms} ms: missed — it did not keep up at ${fmt(parleyStoppedAt!)} messages/s (--quick stops a ladder there; the full run always runs the target).`,
  `- The load generator reached ${fmt(rawTop.sentPerSecond)} sent and ${fmt(rawTop.deliveredPerSecond)} delivered messages/s through the raw relay at ${fmt(rawTop.offered)} offered (p99 lag behind schedule ${rawTop.generatorLagP99Ms} ms, ${rawTop.generatorCpuShare} cores)${rawTop.offered === TARGET.rate && rawTop.sentPerSecond >= TARGET.rate * 0.99 && rawTop.keptUp ? ': it is not the bottleneck at the target rate' : ': this is its ceiling on this machine'}.`,
].join('\n')
const parleyEvents = Math.max(...rows.filter(row => row.key === 'parley' && row.skipped === undefined).map(row => row.eventsPerConversation))
const maxOffset = Math.max(...rows.filter(row => row.skipped === undefined).map(row => row.maxClockOffsetMs))
function checkSummary(): string {
  const checked = rows.filter(row => row.key === 'parley' && row.checked !== undefined)
  if (checked.length === 0) return 'not run'
  const missing = checked.reduce((a, row) => a + row.checkMissing!, 0)
  return `${checked.reduce((a, row) => a + row.checked!, 0).toLocaleString('en-US')} messages checked, ${missing === 0 ? 'none missing' : `**${missing.toLocaleString('en-US')} missing**`}`
}
const notes = [
  `- ${CONVERSATIONS} conversations, each of one sender and one receiver (${2 * CONVERSATIONS} connections), one fresh server per system; conversation i's sender in load-generator process i mod ${WORKERS}, its receiver in the other, so every message crosses processes. ~100-byte texts. Before the ladder, one message in every conversation (warm-up, not counted).`,
  `- Open loop: at offered rate R the run's n-th message is due at n/R s, in conversation n mod ${CONVERSATIONS}; a late sender sends what is due at once and its lag is recorded (\`generatorLagP99Ms\` in the JSON). Latency = arrival − send on the coordinator's clock (worker clock offsets over IPC, at most ${maxOffset} ms, subtracted); "p50 of last 10 %" is over the messages sent in the step's last tenth, so latency that grows during a step shows there. Delivered msg/s counts arrivals during the step.`,
  `- After each step the run waits at most ${DRAIN_MS / 1000} s for stragglers and counts what is still missing as undelivered. A system keeps up with a step when everything arrived within the drain and arrivals during the step reached ${KEPT_UP_SHARE * 100} % of the offered rate; it runs its steps on one server while it keeps up; after the first step it does not keep up with, ${QUICK ? 'its ladder stops (--quick; the full run then runs the target on a fresh server)' : 'the steps below the target are not run and the target runs on a fresh server (warm-up again)'}. CPU share = CPU seconds / step seconds (1.0 = one core; the machine has two, shared by server, both generators and the coordinator); server CPU ms/msg = server CPU over the step / messages that arrived during it, the figure least disturbed by other load on the machine (1,000 ÷ it ≈ messages/s one core could carry). 1-minute load average at the end of the steps: ${Math.min(...rows.filter(row => row.skipped === undefined).map(row => row.loadAverage))}–${Math.max(...rows.filter(row => row.skipped === undefined).map(row => row.loadAverage))} (the machine is shared with other work; a share well under 1.0 for a system that did not keep up means it was waiting for a core). Server peak RSS is the process's high-water mark so far.`,
  `- Parley: the real parley-server process (LevelDB, every change checked and stored); conversations created over REST by their senders; each member has its own token and syncs the conversation's one segment. The load generator replays (throughput/replay-worker.ts): before the ladder, not timed, each sender's messages are recorded as real clients make them, one Automerge change each (\`appendEvent\` on the segment synced from this server, under an actor of its own) with the sync message Automerge's \`generateSyncMessage\` sends for it (the server's side of that sync played by the relay core's own code); while timed, a sender sends those bytes over a raw WebSocket after the join handshake, and the server checks, stores and relays every change as from a live client. Receivers read the forwarded sync messages raw (the change headers say which message arrived) and answer with their new heads as Automerge would; the receivers of every ${CHECK_EVERY}th conversation stay real clients (an Automerge document and sync, as fanout/automerge-peer.ts) and check after each step that every message sent to them is in their document: ${checkSummary()}. The server runs with the fan-out benchmark's limits (\`--max-connections-per-ip\`, rate limit raised): one IP holds every connection. These members do not roll over to a new segment at 1,000 events as the client does; ${parleyEvents < 1000 ? `no Parley conversation reached 1,000 (at most ${parleyEvents} events)` : `a Parley conversation reached ${parleyEvents} events in its one segment, more than a client would put in one`}.`,
  '- Stock automerge-repo: its sync server as shipped (Repo + WebSocketServerAdapter + NodeFS), which sends a document to its peers at most every 100 ms: its latency floor is that throttle, not its work. Same lightweight peers and document shape as Parley, no tokens, no checks. Hocuspocus: awareness off, one Y.Array per conversation, the server persisting to files (debounced, as in bench:latency). Socket.IO: one room per conversation, nothing stored. Raw ws relay: one room per conversation (a URL path), nothing stored.',
  "- Stock automerge-repo's generators do real Automerge work per message (a change and sync message per send, a sync round per receipt), so at high offered rates they compete with the server for the two cores; Parley's replay does not (its real-client receivers excepted); their CPU share is in the table.",
  `- Hocuspocus + Yjs and Socket.IO members each have their own socket; rows are for this machine only: compare ratios within the run.`,
  ...warmUpFailures.map(failure => `- **Delivery failure in a warm-up** — ${failure}.`),
].join('\n')
const command = `npm run bench:throughput${QUICK ? ' -- --quick' : ''}`
const intro = `${CONVERSATIONS} conversations × (one sender, one receiver), open-loop offered load on a ladder of rates${QUICK ? ` (${STEPS[0]!.seconds} s each)` : ' (15 s each, the 10,000 messages/s target 60 s)'}: delivered rate, latency, server CPU.`
const markdown = `${intro}\n\n${table}\n\nDelivered messages/s, side by side (ratio: Parley ÷ that system):\n\n${sideBySide('deliveredPerSecond')}\n\np99 latency ms, side by side (ratio: Parley ÷ that system):\n\n${sideBySide('p99Ms')}\n\n${verdict}\n\n${notes}`
console.log(`\n${markdown}\n\n${took}`)
const json = await writeResults('throughput', command, rows.map(row => ({ ...row, conversations: CONVERSATIONS, workers: WORKERS, drainMs: DRAIN_MS })), markdown)
console.log(`wrote ${json} and RESULTS.md`)
process.exit(0)
