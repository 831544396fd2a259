/**
 * npm run bench:fanout [-- --quick]
 *
 * One message into a group of N connected members: the time from the sender's send until
 * the LAST member has it, and until the median member has it, for N = 100 and 1,000
 * (--quick: 100 and 300). Server, sender (this process) and members in separate
 * processes: the members are spread over WORKERS forked processes, each holding many
 * cheap members (fanout/worker.ts). Raw ws relay (the floor), Socket.IO (room broadcast),
 * Hocuspocus + Yjs (one document), stock automerge-repo and Parley run in the same run,
 * each (system, N) on a fresh server. Timing across processes: see fanout/timing.ts.
 * `--only parley,raw` runs some systems and writes no results (ratios need all five).
 */
import { fileURLToPath } from 'node:url'
import { SYSTEMS } from './latency/systems.ts'
import { nextMessage, peakRssMiB, withTimeout } from './lib/processes.ts'
import { renderTable, writeResults } from './lib/results.ts'
import { median, round } from './lib/stats.ts'
import { startGroup } from './fanout/group.ts'
import { textOf } from './fanout/system.ts'
import { FANOUT_SYSTEMS, type FanoutKey } from './fanout/systems.ts'
import { cpuMs, now, untilIdle } from './fanout/timing.ts'
import { QUICK, selectedSystems } from './lib/args.ts'

const WORKER = fileURLToPath(new URL('./fanout/worker.ts', import.meta.url))
/** 5,000 members is left out: the REST API creates groups of at most 1,001, and the member processes share two cores (see the notes). */
const SIZES = QUICK ? [100, 300] : [100, 1000]
/** Member processes. The machine has 2 cores: more processes would only take turns. */
const WORKERS = 2
/** Enough that each fresh server runs compiled code, not V8 compiling it (3 left half the CPU in the compiler). */
const WARMUP = 30
const MEASURED = QUICK ? 3 : 5
const MESSAGE_TIMEOUT_MS = 30_000
const ALL: FanoutKey[] = ['raw', 'socketio', 'hocuspocus', 'stock', 'parley']
const ORDER = selectedSystems(ALL)

interface Row {
  system: string
  members: number
  /** Medians over the measured messages. */
  lastMemberMs: number
  p50MemberMs: number
  serverCpuMsPerMessage: number
  serverPeakRssMiB: number
  /** Per measured message: last and median member, ms. */
  messages: { lastMs: number; p50Ms: number }[]
  setupSeconds: number
  maxClockOffsetMs: number
}


async function measure(key: FanoutKey, members: number): Promise<Row> {
  const setupStart = performance.now()
  const run = await startGroup(key, members, WORKERS, WORKER)
  try {
    const { server, group, workers, offsets } = run
    const setupSeconds = round((performance.now() - setupStart) / 1000)
    const pids = [server.pid!, ...workers.map(worker => worker.pid!)]
    await untilIdle(pids)

    const messages: Row['messages'] = []
    let cpuStart = 0
    for (let index = 0; index < WARMUP + MEASURED; index++) {
      if (index === WARMUP) cpuStart = cpuMs(server.pid!)
      const got = workers.map(worker => nextMessage<{ index: number; arrivals: number[] }>(worker, 'got'))
      const sentAt = now()
      group.send(textOf(index))
      const reports = await withTimeout(Promise.all(got), `message ${index} to reach all ${members} members`, MESSAGE_TIMEOUT_MS)
      const latencies = reports.flatMap((report, w) => {
        if (report.index !== index) throw new Error(`expected message ${index}, a worker reported ${report.index}`)
        return report.arrivals.map(at => at - offsets[w]! - sentAt)
      })
      if (index >= WARMUP) messages.push({ lastMs: round(Math.max(...latencies), 2), p50Ms: round(median(latencies), 2) })
      // The next message waits until every acknowledgement of this one has been processed.
      await untilIdle(pids)
    }
    const serverCpuMs = cpuMs(server.pid!) - cpuStart
    return {
      system: run.name,
      members,
      lastMemberMs: round(median(messages.map(m => m.lastMs))),
      p50MemberMs: round(median(messages.map(m => m.p50Ms))),
      serverCpuMsPerMessage: round(serverCpuMs / MEASURED),
      serverPeakRssMiB: peakRssMiB(server.pid!),
      messages,
      setupSeconds,
      maxClockOffsetMs: round(Math.max(...offsets.map(Math.abs)), 3),
    }
  } finally {
    await run.close()
  }
}

const started = performance.now()
const rows: Row[] = []
for (const key of ORDER) {
  for (const members of SIZES) {
    const t0 = performance.now()
    process.stderr.write(`fanout: ${SYSTEMS[FANOUT_SYSTEMS[key].server].name}, ${members} members (${MEASURED} messages after ${WARMUP} warm-up)… `)
    rows.push(await measure(key, members))
    process.stderr.write(`${round((performance.now() - t0) / 1000)} s\n`)
  }
}

const table = renderTable({
  headers: ['system', 'members', 'last member ms (median)', 'p50 member ms (median)', 'server CPU ms/msg', 'server peak RSS MiB'],
  rows: rows.map(row => [row.system, row.members, row.lastMemberMs, row.p50MemberMs, row.serverCpuMsPerMessage, row.serverPeakRssMiB]),
})
const took = `took ${round((performance.now() - started) / 1000)} s`
if (ORDER.length < ALL.length) {
  console.log(`\n${table}\n\n${took} (--only: no ratios, nothing written)`)
  process.exit(0)
}

const largest = SIZES.at(-1)!
const at = (key: FanoutKey) => rows.find(row => row.system === SYSTEMS[FANOUT_SYSTEMS[key].server].name && row.members === largest)!
const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}×`
const ours = at('parley')
const compare = (key: FanoutKey, label: string) =>
  `- Parley at ${largest} members: last member ${ratio(ours.lastMemberMs, at(key).lastMemberMs)} ${label}'s, p50 member ${ratio(ours.p50MemberMs, at(key).p50MemberMs)}, server CPU ${ratio(ours.serverCpuMsPerMessage, at(key).serverCpuMsPerMessage)}.`
const ratios = [
  compare('raw', 'the raw relay'),
  compare('socketio', 'Socket.IO'),
  compare('hocuspocus', 'Hocuspocus + Yjs'),
  compare('stock', 'stock automerge-repo'),
  largest >= 1000
    ? `- Target (issue 15), Parley last member at 1,000 ≤ 60 ms: ${ours.lastMemberMs} ms, ${ours.lastMemberMs <= 60 ? 'met' : 'missed'}.`
    : `- Target (issue 15, Parley last member at 1,000 ≤ 60 ms): not measured by --quick (largest group ${largest}).`,
].join('\n')
const maxOffset = Math.max(...rows.map(row => row.maxClockOffsetMs))
const notes = [
  `- Each (system, N) on a fresh server; members spread over ${WORKERS} worker processes; the sender in the coordinator; ${WARMUP} warm-up messages, then ${MEASURED} measured, one at a time, the next once server and members are idle; medians over the measured messages. ~100-byte texts.`,
  `- Times: wall clock (\`performance.timeOrigin + performance.now()\`) stamped by the sender before it sends and by each member when it has the message; worker clock offsets measured over IPC were at most ${maxOffset} ms and are subtracted.`,
  '- Stock automerge-repo members are lightweight peers: one socket, automerge-repo’s wire protocol, the one document synced with plain Automerge. Parley members sync the conversation’s newest segment the same way, each with its own token (the sender appends with its own change); then one in ten stays such a peer, applying every change and reading its text, and the others answer as Automerge would from each change’s header without applying it (`src/lib/replay-member.ts`), so members cost about what Yjs members cost. Hocuspocus members have awareness off. Members of one worker take turns on its CPU, so the last member also waits on its worker.',
  '- Stock automerge-repo syncs a document at most every 100 ms; the messages here are further apart than that, so it sends at once and its rows show its fanout, not its throttle.',
  '- Server CPU per message includes processing the members’ acknowledgements (the Automerge systems), until the server is idle.',
  `- 5,000 members is left out: the REST API creates groups of at most 1,001, and 5,000 lightweight members on two worker processes would measure the workers more than the servers. Parley's server spends ${ours.serverCpuMsPerMessage} ms of CPU per message at ${largest} members: the change forwarded in one sync message built once and sent to each member, and one acknowledgement back from each (on automerge-repo, before the patch stopped share-checking every connected peer on every message, it was ~2,480 ms).`,
].join('\n')
const command = `npm run bench:fanout${QUICK ? ' -- --quick' : ''}`
console.log(`\n${table}\n\n${ratios}\n\n${notes}\n\n${took}`)
const json = await writeResults('fanout', command, rows, `One message into a group of N connected members: send → the last member (and the median member) has it.\n\n${table}\n\n${ratios}\n\n${notes}`)
console.log(`wrote ${json} and RESULTS.md`)
process.exit(0)
