/**
 * npm run bench:hot-conversation [-- --quick] [--only parley,raw]
 *
 * One group conversation of 100 members in which every member also sends, one message a
 * second each, staggered (so ~100 messages/s into the group), for 10 minutes (--quick:
 * 40 s). Latency of every delivered message at every other member (arrival − send, clocks
 * as in fanout/timing.ts); p50 and p99 in the first and last window (1 min; --quick 10 s)
 * by send time, the drift last/first p99, whether the server kept up (messages still
 * undelivered 10 s after sending stopped) and the server's CPU share. Reuses the fanout
 * benchmark's servers, lightweight members and worker layout (hot-conversation/).
 * Stock automerge-repo is left out. `--only` runs some systems and writes no results.
 */
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { SYSTEMS } from './latency/systems.ts'
import { nextMessage, withTimeout } from './lib/processes.ts'
import { renderTable, writeResults } from './lib/results.ts'
import { startGroup } from './fanout/group.ts'
import { FANOUT_SYSTEMS } from './fanout/systems.ts'
import { cpuMs, now, sleep } from './fanout/timing.ts'
import type { HotKey } from './hot-conversation/members.ts'
import { CHECK_EVERY, LAG, startReplayGroup, type ReplayReport } from './hot-conversation/replay.ts'
import { round } from './lib/stats.ts'
import { QUICK, selectedSystems } from './lib/args.ts'

const WORKER = fileURLToPath(new URL('./hot-conversation/worker.ts', import.meta.url))
const MEMBERS = 100
const WORKERS = 2
// --quick: 40 s rather than a minute, so that `npm run bench -- --quick` as a whole stays
// under ten minutes (this benchmark runs four systems one after another).
const DURATION_MS = QUICK ? 40_000 : 600_000
const WINDOW_MS = QUICK ? 10_000 : 60_000
const DRAIN_MS = 10_000
const ALL: HotKey[] = ['raw', 'socketio', 'hocuspocus', 'parley']
const ORDER = selectedSystems(ALL)

interface Row {
  system: string
  members: number
  sent: number
  /** Deliveries: one per message per other member. */
  delivered: number
  expected: number
  undelivered: number
  keptUp: boolean
  firstP50Ms: number
  firstP99Ms: number
  lastP50Ms: number
  lastP99Ms: number
  driftP99: number
  serverCpuShare: number
  /** CPU of all member processes together, in cores: near 2 the load generator, not the server, is the limit. */
  membersCpuShare: number
  drainSeconds: number
  maxClockOffsetMs: number
  /** Parley's replaying generator: messages its real-client members should hold, those missing after the drain, seconds spent recording beforehand. */
  checked?: number
  checkMissing?: number
  recordSeconds?: number
}

/** Parley's rows replay recorded changes (hot-conversation/replay.ts); BENCH_LIVE_GENERATOR=1 runs its live Automerge members instead, for comparison. */
const replays = (key: HotKey) => key === 'parley' && !process.env.BENCH_LIVE_GENERATOR


function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

interface Progress {
  sent: number
  delivered: number
}

async function progress(workers: ChildProcess[]): Promise<Progress> {
  const replies = await Promise.all(
    workers.map(worker => {
      const reply = nextMessage<Progress>(worker, 'progress')
      worker.send({ type: 'progress' })
      return withTimeout(reply, 'a worker’s progress', 30_000)
    }),
  )
  return { sent: replies.reduce((a, r) => a + r.sent, 0), delivered: replies.reduce((a, r) => a + r.delivered, 0) }
}

async function measure(key: HotKey): Promise<Row> {
  const run = replays(key) ? await startReplayGroup(MEMBERS, WORKERS, DURATION_MS / 1000) : await startGroup(key, MEMBERS, WORKERS, WORKER)
  try {
    const { server, workers, offsets } = run
    const start = now() + 500
    workers.forEach((worker, w) => worker.send({ type: 'start', offset: offsets[w], start, durationMs: DURATION_MS, windowMs: WINDOW_MS, members: MEMBERS }))
    await sleep(start - now())
    const cpuStart = cpuMs(server.pid!)
    const membersCpu = () => workers.reduce((sum, worker) => sum + cpuMs(worker.pid!), 0)
    const membersCpuStart = membersCpu()
    await sleep(start + DURATION_MS - now())
    const serverCpuMs = cpuMs(server.pid!) - cpuStart
    const membersCpuMs = membersCpu() - membersCpuStart
    const sendingEnded = now()
    // Stragglers: at most DRAIN_MS after the last send.
    let state = await progress(workers)
    while (state.delivered < state.sent * (MEMBERS - 1) && now() - sendingEnded < DRAIN_MS) {
      await sleep(250)
      state = await progress(workers)
    }
    const drainSeconds = round((now() - sendingEnded) / 1000)
    const reports: (Progress & { firstWindow: number[]; lastWindow: number[] } & Partial<ReplayReport>)[] =
      'collect' in run
        ? await run.collect()
        : await Promise.all(
            workers.map(worker => {
              const reply = nextMessage<Progress & { firstWindow: number[]; lastWindow: number[] }>(worker, 'report')
              worker.send({ type: 'report' })
              return withTimeout(reply, 'a worker’s report', 60_000)
            }),
          )
    for (const report of reports) {
      for (const failure of report.failures ?? []) process.stderr.write(`\nhot-conversation: ${run.name}: a member failed: ${failure}\n`)
      for (const sample of report.checkMissingSample ?? []) process.stderr.write(`\nhot-conversation: ${run.name}: missing in a real client's document: ${sample}\n`)
    }
    const sent = reports.reduce((a, r) => a + r.sent, 0)
    const delivered = reports.reduce((a, r) => a + r.delivered, 0)
    const firstWindow = reports.flatMap(r => r.firstWindow)
    const lastWindow = reports.flatMap(r => r.lastWindow)
    const expected = sent * (MEMBERS - 1)
    const firstP99 = percentile(firstWindow, 99)
    const lastP99 = percentile(lastWindow, 99)
    return {
      system: run.name,
      members: MEMBERS,
      sent,
      delivered,
      expected,
      undelivered: expected - delivered,
      keptUp: delivered === expected,
      firstP50Ms: round(percentile(firstWindow, 50)),
      firstP99Ms: round(firstP99),
      lastP50Ms: round(percentile(lastWindow, 50)),
      lastP99Ms: round(lastP99),
      driftP99: round(lastP99 / firstP99, 2),
      serverCpuShare: round(serverCpuMs / DURATION_MS, 3),
      membersCpuShare: round(membersCpuMs / DURATION_MS, 3),
      drainSeconds,
      maxClockOffsetMs: round(Math.max(...offsets.map(Math.abs)), 3),
      ...('collect' in run ? { checked: reports.reduce((a, r) => a + (r.checked ?? 0), 0), checkMissing: reports.reduce((a, r) => a + (r.checkMissing ?? 0), 0), recordSeconds: round(run.recordSeconds) } : {}),
    }
  } finally {
    await run.close()
  }
}

const started = performance.now()
const rows: Row[] = []
for (const key of ORDER) {
  const t0 = performance.now()
  process.stderr.write(`hot-conversation: ${SYSTEMS[FANOUT_SYSTEMS[key].server].name}, ${MEMBERS} members × 1 msg/s for ${DURATION_MS / 1000} s… `)
  rows.push(await measure(key))
  process.stderr.write(`${round((performance.now() - t0) / 1000)} s\n`)
}

const w = `${WINDOW_MS / 1000} s`
const table = renderTable({
  headers: ['system', 'messages sent', 'deliveries', `first ${w} p50 ms`, `first ${w} p99 ms`, `last ${w} p50 ms`, `last ${w} p99 ms`, 'p99 last/first', 'undelivered at end', 'server CPU share', 'member processes CPU share'],
  rows: rows.map(row => [row.system, row.sent, row.delivered, row.firstP50Ms, row.firstP99Ms, row.lastP50Ms, row.lastP99Ms, row.driftP99, row.undelivered, row.serverCpuShare, row.membersCpuShare]),
})
const took = `took ${round((performance.now() - started) / 1000)} s`
const replayed = rows.find(row => row.checked !== undefined)
const checkSummary = replayed
  ? `${replayed.checked!.toLocaleString('en-US')} deliveries checked in the documents of ${Math.ceil(MEMBERS / CHECK_EVERY)} real-client members, ${replayed.checkMissing === 0 ? 'none missing' : `**${replayed.checkMissing!.toLocaleString('en-US')} missing**`}; recording took ${replayed.recordSeconds} s beforehand`
  : 'not run'
if (ORDER.length < ALL.length) {
  const checks = ORDER.includes('parley') ? `\n\nParley's real-client members: ${checkSummary}.` : ''
  console.log(`\n${table}${checks}\n\n${took} (--only: nothing written)`)
  process.exit(0)
}
const ours = rows.find(row => row.system === SYSTEMS.parley.name)!
const maxOffset = Math.max(...rows.map(row => row.maxClockOffsetMs))
const notes = [
  `- Target, Parley p99 last/first ≤ 1.5 (no latency drift): ${ours.driftP99}, ${ours.driftP99 <= 1.5 ? 'met' : 'missed'}${ours.keptUp ? '' : ` (and ${ours.undelivered} deliveries were still missing at the end)`}.`,
  `- ${MEMBERS} members on one fresh server per system, spread over ${WORKERS} worker processes; each member sends one ~120-byte text a second, member i starting i×${1000 / MEMBERS} ms after the start, for ${DURATION_MS / 1000} s. A delivery is one message reaching one other member (a member's own messages are not counted); deliveries expected = messages sent × ${MEMBERS - 1}.`,
  `- Windows by send time: the first and the last ${w}. Latency = arrival − send on the coordinator's clock (worker clock offsets measured over IPC, at most ${maxOffset} ms, subtracted).`,
  `- Sending stops at the deadline; the run then waits at most ${DRAIN_MS / 1000} s for stragglers and counts what is still missing as undelivered. Server CPU share = server CPU seconds / wall seconds over the sending period (1.0 = one core); member processes CPU share likewise for the load generators together (the machine has 2 cores: near 2 − server, the members, not the server, set the pace).`,
  `- Parley: every member has its own token and syncs the conversation’s newest segment; the load generator replays (hot-conversation/replay.ts). Before the run, not timed, every member's messages are recorded as real clients make them, one Automerge change each (an append to the segment synced from this server, under an actor of that member), member i's round-k message made on a replica holding every message sent ${LAG} or more slots (10 ms each) before it. While timed, a raw member sends its change, on the schedule above, in the sync message a client holding it and everything it received would send (its heads, \`have\` since what the server last showed it), and reads arrivals from the forwarded sync messages' change headers, answering with its new heads as Automerge would; the server checks, stores and relays every change as from a live client. Members 0, ${CHECK_EVERY}, ${2 * CHECK_EVERY} … also receive on a real client (an Automerge document and sync; their messages go out from a second, raw device of the same user) and after the run check that every other member's message is in its document: ${checkSummary}. A change is sent when due even if its member has not yet received everything it was recorded on (open loop); a server behind by more than ${LAG} slots then holds it until its deps arrive. The benchmark does not roll over to a new segment at 1,000 events, so the one segment grows to every message of the run: harsher than a real client. Hocuspocus: awareness off, one Y.Array. Socket.IO: one room. Raw ws relay: every frame to every other client.`,
  '- Stock automerge-repo is left out (its 100 ms sync throttle and the member-as-sender wiring were not done for this benchmark).',
  '- The members of a worker share its CPU (two cores for server, workers and coordinator): Parley’s replaying members do no Automerge work per delivery (its real-client members excepted), Hocuspocus’s members apply every Yjs update; their queueing shows in the latencies.',
].join('\n')
const command = `npm run bench:hot-conversation${QUICK ? ' -- --quick' : ''}`
console.log(`\n${table}\n\n${notes}\n\n${took}`)
const json = await writeResults('hot-conversation', command, rows, `One group conversation of ${MEMBERS} members, every member sending one message a second (~${MEMBERS} messages/s into the group) for ${DURATION_MS / 1000} s: latency in the first vs last ${w}.\n\n${table}\n\n${notes}`)
console.log(`wrote ${json} and RESULTS.md`)
process.exit(0)
