/**
 * npm run bench:hot-conversation [-- --quick] [--minutes N] [--segment-size N] [--only parley,raw]
 *
 * One group conversation of 100 members in which every member also sends, one message a
 * second each, staggered (so ~100 messages/s into the group), for 10 minutes (--quick:
 * 40 s; --minutes N: N minutes, decimals allowed, for a shortened check). Latency of every
 * delivered message at every other member (arrival − send, clocks as in
 * fanout/timing.ts); p50 and p99 in the first and last window (a quarter of the run, at
 * most 1 min) by send time, the drift last/first p99, whether the server kept up
 * (messages still undelivered 10 s after sending stopped) and the server's CPU share.
 * Reuses the fanout benchmark's servers, lightweight members and worker layout
 * (hot-conversation/). Stock automerge-repo is left out. `--segment-size N`: Parley's
 * members start the next segment at N events (the client library's segmentSize option;
 * default core's SEGMENT_SIZE). `--only`, `--minutes` and `--segment-size` print their
 * figures and write no results. Progress goes to stderr while it runs.
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
import { SEGMENT_SIZE } from '@parley/core'

const WORKER = fileURLToPath(new URL('./hot-conversation/worker.ts', import.meta.url))
const MEMBERS = 100
const WORKERS = 2
/** `--NAME N`: a positive number, undefined without the flag. */
function numberFlag(name: string, integer = false): number | undefined {
  const at = process.argv.indexOf(`--${name}`)
  if (at < 0) return undefined
  const value = Number(process.argv[at + 1])
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) throw new Error(`--${name} needs a positive ${integer ? 'integer' : 'number'}, not ${process.argv[at + 1]}`)
  return value
}
/** `--minutes N`: a shortened (or longer) run, not written to the results. */
const MINUTES = numberFlag('minutes')
/** `--segment-size N`: events per segment for Parley's members (the client library's segmentSize), not written to the results. */
const SEGMENT_EVENTS = numberFlag('segment-size', true)
// --quick: 40 s rather than a minute, so that `npm run bench -- --quick` as a whole stays
// under ten minutes (this benchmark runs four systems one after another).
const DURATION_MS = MINUTES !== undefined ? Math.round(MINUTES * 60_000) : QUICK ? 40_000 : 600_000
const WINDOW_MS = Math.min(60_000, Math.round(DURATION_MS / 4))
/** How often progress is printed while sending. */
const PROGRESS_MS = DURATION_MS > 120_000 ? 60_000 : 10_000
const DRAIN_MS = 10_000
const ALL: HotKey[] = ['raw', 'socketio', 'hocuspocus', 'parley']
const ORDER = selectedSystems(ALL)

interface Row {
  system: string
  members: number
  /** Messages the schedule holds, and those sent by the deadline (fewer: the load generator fell behind). */
  scheduled: number
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
  /** Segments the recording writes (every member writes to the newest and starts the next when it is full), and the most events one holds. */
  segments?: number
  largestSegment?: number
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
  /** Parley's replaying members: segments open on their raw devices; changes received from the server, and those they held already. */
  segments?: number
  received?: number
  held?: number
  /** Each worker's event-loop delay p99 since the last progress, ms. */
  loopP99Ms?: number[]
}

async function progress(workers: ChildProcess[]): Promise<Progress> {
  const replies = await Promise.all(
    workers.map(worker => {
      const reply = nextMessage<Omit<Progress, 'loopP99Ms'> & { loopP99Ms?: number }>(worker, 'progress')
      worker.send({ type: 'progress' })
      return withTimeout(reply, 'a worker’s progress', 30_000)
    }),
  )
  const sum = (key: 'segments' | 'received' | 'held') => (replies.every(r => r[key] !== undefined) ? { [key]: replies.reduce((a, r) => a + r[key]!, 0) } : {})
  return { sent: replies.reduce((a, r) => a + r.sent, 0), delivered: replies.reduce((a, r) => a + r.delivered, 0), ...sum('segments'), ...sum('received'), ...sum('held'), loopP99Ms: replies.map(r => r.loopP99Ms ?? Number.NaN) }
}

/** The server's event-loop delay p99 since its metrics were last read, ms (Parley's `parley_event_loop_lag_seconds`; undefined for the others). */
async function serverLoopP99Ms(metricsUrl: string | undefined): Promise<number | undefined> {
  if (!metricsUrl) return undefined
  const text = await (await fetch(metricsUrl)).text()
  const line = text.split('\n').find(l => l.startsWith('parley_event_loop_lag_seconds '))
  return line === undefined ? undefined : round(Number(line.split(' ')[1]) * 1000)
}

/**
 * Sending stops at the deadline: a worker whose event loop runs behind would otherwise
 * still send after it reported, and another worker's members, reporting later, would
 * count deliveries of messages no `sent` includes (undelivered came out negative). After
 * this every `sent` is final before any delivery is counted.
 */
async function stopSending(workers: ChildProcess[]): Promise<number> {
  const replies = await Promise.all(
    workers.map(worker => {
      const reply = nextMessage<{ sent: number }>(worker, 'stopped')
      worker.send({ type: 'stop' })
      return withTimeout(reply, 'a worker to stop sending', 60_000)
    }),
  )
  return replies.reduce((sum, reply) => sum + reply.sent, 0)
}

/** Messages the schedule holds: member i's round k is due at i × 1000 / members + k × 1000 ms. */
function scheduled(members: number, durationMs: number): number {
  let total = 0
  for (let i = 0; i < members; i++) total += Math.max(0, Math.ceil((durationMs - (i * 1000) / members) / 1000))
  return total
}

/** Progress on stderr every PROGRESS_MS until the deadline (a worker slow to answer does not delay it). */
async function sendUntil(workers: ChildProcess[], server: ChildProcess, metricsUrl: string | undefined, start: number, expectedPerMessage: number): Promise<void> {
  const deadline = start + DURATION_MS
  let last: Progress = { sent: 0, delivered: 0, received: 0, held: 0 }
  const cpu = () => ({ at: now(), server: cpuMs(server.pid!), workers: workers.map(worker => cpuMs(worker.pid!)) })
  let lastCpu = cpu()
  await serverLoopP99Ms(metricsUrl).catch(() => undefined)
  const report = async () => {
    const [state, serverLoop] = await Promise.all([progress(workers), serverLoopP99Ms(metricsUrl).catch(() => undefined)])
    // Since the last report: each process's CPU share and event-loop delay p99, so a drift
    // shows which side fell behind.
    const cpuNow = cpu()
    const share = (from: number, to: number) => ((to - from) / (cpuNow.at - lastCpu.at)).toFixed(2)
    const workerState = cpuNow.workers.map((ms, w) => `${share(lastCpu.workers[w]!, ms)} cores, loop p99 ${state.loopP99Ms?.[w] ?? '–'} ms`).join('; ')
    const load = `\n    server ${share(lastCpu.server, cpuNow.server)} cores${serverLoop === undefined ? '' : `, loop p99 ${serverLoop} ms`}; workers: ${workerState}`
    lastCpu = cpuNow
    const delivered = state.sent > 0 ? ((100 * state.delivered) / (state.sent * expectedPerMessage)).toFixed(1) : '–'
    const segments = state.segments === undefined ? '' : `, ${state.segments.toLocaleString('en-US')} segments open on the members' raw devices`
    // Since the last report: changes the server sent the raw devices per new delivery, and the share they held already (resent).
    const deliveries = state.delivered - last.delivered
    const changes = state.received === undefined || deliveries <= 0 ? '' : `, ${((state.received - last.received!) / deliveries).toFixed(2)} changes received per delivery (${((100 * (state.held! - last.held!)) / Math.max(1, state.received - last.received!)).toFixed(1)} % held already)`
    last = state
    process.stderr.write(`\n  ${Math.round((now() - start) / 1000)} s: ${state.sent.toLocaleString('en-US')} sent, ${state.delivered.toLocaleString('en-US')} deliveries (${delivered} % of sent × ${expectedPerMessage}, workers read at slightly different times)${segments}${changes}${load}`)
  }
  for (let at = start + PROGRESS_MS; at < deadline; at += PROGRESS_MS) {
    await sleep(at - now())
    await Promise.race([report().catch(() => {}), sleep(deadline - now())])
  }
  await sleep(deadline - now())
}

async function measure(key: HotKey): Promise<Row> {
  const run = replays(key) ? await startReplayGroup(MEMBERS, WORKERS, Math.ceil(DURATION_MS / 1000), SEGMENT_EVENTS ?? SEGMENT_SIZE) : await startGroup(key, MEMBERS, WORKERS, WORKER)
  try {
    const { server, workers, offsets } = run
    const start = now() + 500
    workers.forEach((worker, w) => worker.send({ type: 'start', offset: offsets[w], start, durationMs: DURATION_MS, windowMs: WINDOW_MS, members: MEMBERS }))
    await sleep(start - now())
    const cpuStart = cpuMs(server.pid!)
    const membersCpu = () => workers.reduce((sum, worker) => sum + cpuMs(worker.pid!), 0)
    const membersCpuStart = membersCpu()
    await sendUntil(workers, server, 'metricsUrl' in run ? run.metricsUrl : undefined, start, MEMBERS - 1)
    const serverCpuMs = cpuMs(server.pid!) - cpuStart
    const membersCpuMs = membersCpu() - membersCpuStart
    const sendingEnded = now()
    const sentByDeadline = await stopSending(workers)
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
    if (sent !== sentByDeadline) throw new Error(`hot-conversation: ${run.name}: ${sent} sent by the reports, ${sentByDeadline} when sending stopped`)
    const delivered = reports.reduce((a, r) => a + r.delivered, 0)
    const firstWindow = reports.flatMap(r => r.firstWindow)
    const lastWindow = reports.flatMap(r => r.lastWindow)
    const expected = sent * (MEMBERS - 1)
    const firstP99 = percentile(firstWindow, 99)
    const lastP99 = percentile(lastWindow, 99)
    return {
      system: run.name,
      members: MEMBERS,
      scheduled: scheduled(MEMBERS, DURATION_MS),
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
      ...('collect' in run ? { checked: reports.reduce((a, r) => a + (r.checked ?? 0), 0), checkMissing: reports.reduce((a, r) => a + (r.checkMissing ?? 0), 0), recordSeconds: round(run.recordSeconds), segments: run.segments.length, largestSegment: Math.max(...run.segments.map(segment => segment.events)) } : {}),
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
  process.stderr.write(`\n  done in ${round((performance.now() - t0) / 1000)} s\n`)
}

const w = `${WINDOW_MS / 1000} s`
const table = renderTable({
  headers: ['system', 'messages sent', 'deliveries', `first ${w} p50 ms`, `first ${w} p99 ms`, `last ${w} p50 ms`, `last ${w} p99 ms`, 'p99 last/first', 'undelivered at end', 'server CPU share', 'member processes CPU share'],
  rows: rows.map(row => [row.system, row.sent < row.scheduled ? `${row.sent} (of ${row.scheduled} due)` : row.sent, row.delivered, row.firstP50Ms, row.firstP99Ms, row.lastP50Ms, row.lastP99Ms, row.driftP99, row.undelivered, row.serverCpuShare, row.membersCpuShare]),
})
const took = `took ${round((performance.now() - started) / 1000)} s`
const replayed = rows.find(row => row.checked !== undefined)
const checkSummary = replayed
  ? `${replayed.checked!.toLocaleString('en-US')} deliveries checked in the documents of ${Math.ceil(MEMBERS / CHECK_EVERY)} real-client members, ${replayed.checkMissing === 0 ? 'none missing' : `**${replayed.checkMissing!.toLocaleString('en-US')} missing**`}; ${replayed.segments} segments written (the fullest holds ${replayed.largestSegment} events); recording took ${replayed.recordSeconds} s beforehand`
  : 'not run'
const unwritten = [ORDER.length < ALL.length && '--only', MINUTES !== undefined && '--minutes', SEGMENT_EVENTS !== undefined && '--segment-size'].filter(Boolean)
if (unwritten.length > 0) {
  const checks = ORDER.includes('parley') ? `\n\nParley's real-client members: ${checkSummary}.` : ''
  console.log(`\n${table}${checks}\n\n${took} (${unwritten.join(', ')}: nothing written)`)
  process.exit(0)
}
const ours = rows.find(row => row.system === SYSTEMS.parley.name)!
const maxOffset = Math.max(...rows.map(row => row.maxClockOffsetMs))
const notes = [
  `- Target, Parley p99 last/first ≤ 1.5 (no latency drift): ${ours.driftP99}, ${ours.driftP99 <= 1.5 ? 'met' : 'missed'}${ours.keptUp ? '' : ` (and ${ours.undelivered} deliveries were still missing at the end)`}.`,
  `- ${MEMBERS} members on one fresh server per system, spread over ${WORKERS} worker processes; each member sends one ~120-byte text a second, member i starting i×${1000 / MEMBERS} ms after the start, for ${DURATION_MS / 1000} s. A delivery is one message reaching one other member (a member's own messages are not counted); deliveries expected = messages sent × ${MEMBERS - 1}.`,
  `- Windows by send time: the first and the last ${w}. Latency = arrival − send on the coordinator's clock (worker clock offsets measured over IPC, at most ${maxOffset} ms, subtracted).`,
  `- Sending stops at the deadline (a message a member process was too busy to send by then is not sent: "of N due"); the run then waits at most ${DRAIN_MS / 1000} s for stragglers and counts what is still missing as undelivered. Server CPU share = server CPU seconds / wall seconds over the sending period (1.0 = one core); member processes CPU share likewise for the load generators together (the machine has 2 cores: near 2 − server, the members, not the server, set the pace).`,
  `- Parley: every member has its own token and one connection, which syncs the conversation's head and its newest segment; the load generator replays (hot-conversation/replay.ts). Before the run, not timed, every member's messages are recorded as the client library writes them (lib/replay-conversation.ts), one Automerge change each (an append to the newest segment its head lists, under an actor of that member), member i's round-k message made on a replica holding every message, new segment and head change sent ${LAG} or more slots (10 ms each) before it. Segments roll over as the library's do: a member whose newest segment is full (${SEGMENT_SIZE.toLocaleString('en-US')} events, or 512 KiB of event JSON) starts the next one (a new document, its message in it, and a head change listing it); the next ${LAG - 1} member(s), who do not see that head change yet, start one each too, and the head's list order decides which one everybody writes to next; every member opens each new segment when the head change listing it arrives (or when a message of its own is due there first) and keeps the older ones open. While timed, a raw member sends its change, on the schedule above, in the sync message a client holding it and everything it received would send (its heads, \`have\` since what the server last showed it), and reads arrivals from the forwarded sync messages' change headers, answering with its new heads as Automerge would; the server checks, stores and relays every change as from a live client. Members 0, ${CHECK_EVERY}, ${2 * CHECK_EVERY} … also have a real client each (an Automerge document and sync, on a device of its own, in a third process, which sends nothing and measures no latency: sharing a member process, its growing Automerge work slowed that process's members from about minute four), and after the run check that every other member's message is in one of the segments its head lists: ${checkSummary}. A change is sent when due even if its member has not yet received everything it was recorded on (open loop); a server behind by more than ${LAG} slots then holds it until its deps arrive, and the member asks for the deps it lacks (\`need\`) until they reach it. Hocuspocus: awareness off, one Y.Array. Socket.IO: one room. Raw ws relay: every frame to every other client.`,
  '- Stock automerge-repo is left out (its 100 ms sync throttle and the member-as-sender wiring were not done for this benchmark).',
  '- The members of a worker share its CPU (two cores for server, workers and coordinator): Parley’s replaying members do no Automerge work per delivery (its real clients check from a process of their own), Hocuspocus’s members apply every Yjs update; their queueing shows in the latencies.',
].join('\n')
const command = `npm run bench:hot-conversation${QUICK ? ' -- --quick' : ''}`
console.log(`\n${table}\n\n${notes}\n\n${took}`)
const json = await writeResults('hot-conversation', command, rows, `One group conversation of ${MEMBERS} members, every member sending one message a second (~${MEMBERS} messages/s into the group) for ${DURATION_MS / 1000} s: latency in the first vs last ${w}.\n\n${table}\n\n${notes}`)
console.log(`wrote ${json} and RESULTS.md`)
process.exit(0)
