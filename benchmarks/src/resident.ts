/**
 * npm run bench:resident [-- --quick] [--only parley,stock]
 *
 * Many conversations stored, a thousand of them active at a time: the server's memory.
 * Each system's data directory is seeded with CONVERSATIONS conversations of one message
 * each (with the system's own code, before its server starts), then its real server
 * process runs WINDOWS windows; in each, ACTIVE conversations not touched before get a
 * message each from a client (so over the run WINDOWS × ACTIVE distinct conversations
 * are loaded), and the server's resident memory (VmRSS) is read at the end of every
 * window and once more after IDLE_MS without traffic. A server that keeps every
 * conversation it ever loaded grows with each window; one that lets idle conversations
 * go stays flat. Target (Parley): server RSS ≤ 1 GiB with 100,000 stored, 1,000 active.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SYSTEMS } from './latency/systems.ts'
import { freePort, peakRssMiB, rssMiB, spawnServer, stop } from './lib/processes.ts'
import { renderTable, writeResults } from './lib/results.ts'
import { round } from './lib/stats.ts'
import { cpuMs, sleep, untilIdle } from './fanout/timing.ts'
import { hocuspocusResident } from './resident/hocuspocus.ts'
import { parleyResident } from './resident/parley.ts'
import { stockResident } from './resident/stock.ts'
import { SECRET, type ResidentSystem } from './resident/system.ts'
import { inParallel } from './lib/parallel.ts'
import { QUICK, selectedSystems } from './lib/args.ts'

const CONVERSATIONS = QUICK ? 2_000 : 100_000
const ACTIVE = QUICK ? 250 : 1_000
const WINDOWS = QUICK ? 3 : 8
/** Longer than Parley's --doc-idle-ms in this benchmark (resident/parley.ts) plus one sweep. */
const IDLE_MS = 20_000
const ALL = { parley: parleyResident, stock: stockResident, hocuspocus: hocuspocusResident } satisfies Record<string, ResidentSystem>
type Key = keyof typeof ALL
const ORDER = selectedSystems(Object.keys(ALL) as Key[])

interface Row {
  system: string
  stored: number
  active: number
  windows: number
  seedSeconds: number
  startRssMiB: number
  windowRssMiB: number[]
  idleRssMiB: number
  peakRssMiB: number
  serverCpuSeconds: number
}

async function measure(key: Key): Promise<Row> {
  const system = ALL[key]
  const base = SYSTEMS[system.server]
  const dataDir = await mkdtemp(join(tmpdir(), `parley-bench-resident-${key}-`))
  const port = await freePort()
  let server: Awaited<ReturnType<typeof spawnServer>> | undefined
  try {
    const seedStart = performance.now()
    let reported = 0
    const ids = await system.seed(dataDir, CONVERSATIONS, done => {
      if (done - reported < CONVERSATIONS / 10 && done !== CONVERSATIONS) return
      reported = done
      process.stderr.write(`  seeded ${done}/${CONVERSATIONS} (${round((performance.now() - seedStart) / 1000)} s)\n`)
    })
    const seedSeconds = round((performance.now() - seedStart) / 1000)
    const { command, args } = base.serverCommand(port, dataDir, SECRET)
    server = await spawnServer(command, [...args, ...(system.serverArgs ?? [])])
    const pid = server.pid!
    await untilIdle([pid])
    const startRssMiB = rssMiB(pid)
    const cpuStart = cpuMs(pid)
    const client = await system.connect({ url: `ws://127.0.0.1:${port}${base.path ?? ''}`, httpUrl: `http://127.0.0.1:${port}` })
    const windowRssMiB: number[] = []
    for (let window = 0; window < WINDOWS; window++) {
      // Conversations spread over the whole store: window w touches w, w + WINDOWS, …
      const touched = Array.from({ length: ACTIVE }, (_, i) => (window + i * WINDOWS) % CONVERSATIONS)
      await inParallel(touched.length, 32, i => client.touch(touched[i]!, ids[touched[i]!]!, `window ${window} message for conversation ${touched[i]}`))
      await untilIdle([pid], 10_000)
      windowRssMiB.push(rssMiB(pid))
      process.stderr.write(`  window ${window + 1}/${WINDOWS}: ${ACTIVE} conversations touched, server RSS ${windowRssMiB.at(-1)} MiB\n`)
    }
    await client.close()
    await sleep(IDLE_MS)
    const idleRssMiB = rssMiB(pid)
    return {
      system: base.name,
      stored: CONVERSATIONS,
      active: ACTIVE,
      windows: WINDOWS,
      seedSeconds,
      startRssMiB,
      windowRssMiB,
      idleRssMiB,
      peakRssMiB: peakRssMiB(pid),
      serverCpuSeconds: round((cpuMs(pid) - cpuStart) / 1000),
    }
  } finally {
    await stop(server)
    await rm(dataDir, { recursive: true, force: true })
  }
}

const started = performance.now()
const rows: Row[] = []
for (const key of ORDER) {
  process.stderr.write(`resident: ${SYSTEMS[ALL[key].server].name}, ${CONVERSATIONS} stored, ${WINDOWS} windows × ${ACTIVE} active…\n`)
  rows.push(await measure(key))
}
const table = renderTable({
  headers: ['system', 'stored', 'active per window', 'RSS after start MiB', ...Array.from({ length: WINDOWS }, (_, w) => `after window ${w + 1}`), `after ${IDLE_MS / 1000} s idle`, 'peak RSS MiB', 'server CPU s', 'seeding s'],
  rows: rows.map(row => [row.system, row.stored, row.active, row.startRssMiB, ...row.windowRssMiB, row.idleRssMiB, row.peakRssMiB, row.serverCpuSeconds, row.seedSeconds]),
})
const took = `took ${round((performance.now() - started) / 1000)} s`
if (ORDER.length < Object.keys(ALL).length) {
  console.log(`\n${table}\n\n${took} (--only: nothing written)`)
  process.exit(0)
}
const ours = rows.find(row => row.system === SYSTEMS.parley.name)!
const ratio = (other: Row) => `${(other.peakRssMiB / ours.peakRssMiB).toFixed(1)}×`
const notes = [
  `- Target, Parley server RSS ≤ 1 GiB with ${CONVERSATIONS} stored and ${ACTIVE} active: peak ${ours.peakRssMiB} MiB, ${ours.peakRssMiB <= 1024 ? 'met' : 'missed'}${QUICK ? ' (quick run: fewer stored and active than the target names)' : ''}.`,
  ...rows.filter(row => row !== ours).map(row => `- ${row.system} peak RSS is ${ratio(row)} Parley's.`),
  `- Seeded before the server starts, with each system's own code: Parley through its HTTP routes in-process on the same data directory (head, segment, inbox entries, the access registry, the event index), stock automerge-repo through a Repo on NodeFS, Hocuspocus as the files its persistence extension stores. Each conversation: one ~100-byte message; owners spread over 1,000 users.`,
  '- Parley runs with `--doc-idle-ms 10000` (documents idle for 10 s are saved and unloaded; the default is 5 minutes) and the default cap of 10,000 loaded documents; stock automerge-repo keeps every document it loaded; Hocuspocus unloads a document when its last connection leaves.',
  `- Window w touches ${ACTIVE} conversations not touched before (spread over the whole store), one message each, 32 at a time; RSS (VmRSS) is read once the server is idle. Parley: HTTP publish by the owner; stock automerge-repo: a client Repo that waits for the server's acknowledgement; Hocuspocus: a provider that connects, pushes, waits until synced, and disconnects.`,
].join('\n')
const command = `npm run bench:resident${QUICK ? ' -- --quick' : ''}`
console.log(`\n${table}\n\n${notes}\n\n${took}`)
const json = await writeResults('resident', command, rows, `${CONVERSATIONS} conversations stored; ${WINDOWS} windows of ${ACTIVE} conversations each touched once (${WINDOWS * ACTIVE} distinct conversations loaded over the run): the server's resident memory.\n\n${table}\n\n${notes}`)
console.log(`wrote ${json} and RESULTS.md`)
process.exit(0)
