/**
 * npm run bench:catch-up [-- --quick] [--only parley,stock]
 *
 * A device that is a member of 100 conversations goes offline while 10,000 messages
 * arrive (100 in each; --quick 20 in each), then comes back: the time from the start of
 * its reconnect (opening its local storage again) until every conversation holds every
 * message, and until the first one does; the server's CPU and the device's CPU
 * meanwhile. Server, writer (this process) and device (catch-up/device.ts) are separate
 * processes. Parley (the real @parley/client on LevelDB), stock automerge-repo (an
 * unpatched Repo on NodeFS) and Hocuspocus + Yjs (Y.Doc state saved to files) run in the
 * same run; the raw relay and Socket.IO store nothing, so they have no catch-up.
 * `--only` runs some systems and writes nothing.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SYSTEMS } from './latency/systems.ts'
import { forkWorker, freePort, nextMessage, peakRssMiB, spawnServer, stop, withTimeout } from './lib/processes.ts'
import { renderTable, writeResults } from './lib/results.ts'
import { SECRET } from './fanout/system.ts'
import { cpuMs, untilIdle } from './fanout/timing.ts'
import { CATCH_UP_SYSTEMS, type CatchUpKey } from './catch-up/systems.ts'
import { DEVICE_USER, token } from './catch-up/writers.ts'
import { QUICK, selectedSystems } from './lib/args.ts'

const DEVICE = fileURLToPath(new URL('./catch-up/device.ts', import.meta.url))
const CONVERSATIONS = 100
/** Messages each conversation holds before the device first syncs. */
const HISTORY = 10
/** Messages per conversation while the device is offline. */
const OFFLINE = QUICK ? 20 : 100
/** Offline → catch-up rounds on the same device, each a row. */
const ROUNDS = QUICK ? 1 : 3
const TARGET_MS = 3_000
/** A device not caught up by then is reported as such (how many conversations were current). */
const DEADLINE_MS = QUICK ? 60_000 : 120_000
const TIMEOUT_MS = 300_000
const ALL: CatchUpKey[] = ['stock', 'hocuspocus', 'parley']
const ORDER = selectedSystems(ALL)

interface Row {
  system: string
  key: CatchUpKey
  /** 1, 2, …: the device's n-th time back; it held HISTORY + (round − 1) × OFFLINE messages per conversation before. */
  round: number
  conversations: number
  heldPerConversation: number
  messagesWhileOffline: number
  /** Every conversation current before the deadline? Else totalMs is the deadline. */
  finished: boolean
  /** Conversations current when the device finished or the deadline passed. */
  current: number
  totalMs: number
  firstMs: number
  serverCpuMs: number
  deviceCpuMs: number
  /** What the device marked on its way back (Parley: connection status, conversations opened, sync() resolved), ms after the start. */
  marks: [string, number][]
  writeSeconds: number
  /** Server peak RSS so far. */
  serverPeakRssMiB: number
  loadAverage: number[]
}

const round = (value: number, places = 0) => Math.round(value * 10 ** places) / 10 ** places
const log = (text: string) => process.stderr.write(`catch-up: ${text}\n`)

/** The device process, and a promise that rejects if it reports a failure. */
interface DeviceProcess {
  child: ChildProcess
  failed: Promise<never>
}

async function order<T>({ child, failed }: DeviceProcess, message: object, reply: string): Promise<T> {
  const answer = nextMessage<T>(child, reply)
  child.send(message)
  return withTimeout(Promise.race([answer, failed]), `the device's ${reply}`, TIMEOUT_MS)
}

async function measure(key: CatchUpKey): Promise<Row[]> {
  const base = SYSTEMS[CATCH_UP_SYSTEMS[key].server]
  const port = await freePort()
  const dataDir = await mkdtemp(join(tmpdir(), `parley-bench-catch-up-${key}-server-`))
  const deviceDir = await mkdtemp(join(tmpdir(), `parley-bench-catch-up-${key}-device-`))
  const { command, args } = base.serverCommand(port, dataDir, SECRET)
  let server: ChildProcess | undefined
  let device: DeviceProcess | undefined
  let writer: Awaited<ReturnType<(typeof CATCH_UP_SYSTEMS)[CatchUpKey]['writer']>> | undefined
  try {
    server = await spawnServer(command, args)
    const url = `ws://127.0.0.1:${port}${base.path ?? ''}`
    writer = await CATCH_UP_SYSTEMS[key].writer({ url, httpUrl: `http://127.0.0.1:${port}` })
    const ids = await withTimeout(writer.create(CONVERSATIONS, HISTORY), 'the conversations', TIMEOUT_MS)
    const child = forkWorker(DEVICE, [key, url, deviceDir, await token(DEVICE_USER)])
    device = { child, failed: nextMessage<{ message: string }>(child, 'failed').then(({ message }) => Promise.reject(new Error(`the device failed:\n${message}`))) }
    device.failed.catch(() => {})
    await nextMessage(child, 'started')
    const initial = await order<{ finished: boolean; current: number }>(device, { type: 'catch-up', ids, expected: HISTORY, deadlineMs: TIMEOUT_MS }, 'caught-up')
    if (!initial.finished) throw new Error(`${base.name}: the device's first sync got ${initial.current} of ${CONVERSATIONS} conversations in ${TIMEOUT_MS / 1000} s`)
    await order(device, { type: 'offline' }, 'offline')
    const rows: Row[] = []
    for (let r = 0; r < ROUNDS; r++) {
      const written = performance.now()
      await withTimeout(writer.write(ids, HISTORY + r * OFFLINE, OFFLINE), 'the writer', TIMEOUT_MS)
      const writeSeconds = round((performance.now() - written) / 1000, 1)
      // Whatever the writes left the server to do (storing, compacting) is done before the device comes back.
      await untilIdle([server.pid!], 30_000)
      const cpu0 = cpuMs(server.pid!)
      const result = await order<{ finished: boolean; current: number; totalMs: number; firstMs: number; cpuMs: number; marks: [string, number][] }>(
        device,
        { type: 'catch-up', ids, expected: HISTORY + (r + 1) * OFFLINE, deadlineMs: DEADLINE_MS },
        'caught-up',
      )
      const serverCpuMs = cpuMs(server.pid!) - cpu0
      await order(device, { type: 'offline' }, 'offline')
      const row: Row = {
        system: base.name,
        key,
        round: r + 1,
        conversations: CONVERSATIONS,
        heldPerConversation: HISTORY + r * OFFLINE,
        messagesWhileOffline: CONVERSATIONS * OFFLINE,
        finished: result.finished,
        current: result.current,
        totalMs: round(result.totalMs),
        firstMs: round(result.firstMs),
        serverCpuMs: round(serverCpuMs),
        deviceCpuMs: round(result.cpuMs),
        marks: result.marks,
        writeSeconds,
        serverPeakRssMiB: peakRssMiB(server.pid!),
        loadAverage: loadavg().map(value => round(value, 2)),
      }
      rows.push(row)
      log(`${base.name} round ${r + 1}: ${row.finished ? '' : `NOT caught up: ${row.current} of ${CONVERSATIONS} conversations current after `}${row.totalMs} ms (first conversation ${row.firstMs} ms${row.marks.length ? `; ${row.marks.map(([what, ms]) => `${what} ${ms}`).join(', ')}` : ''}), server CPU ${row.serverCpuMs} ms, device CPU ${row.deviceCpuMs} ms; wrote ${row.messagesWhileOffline} messages in ${writeSeconds} s`)
    }
    return rows
  } finally {
    if (device?.child.connected) device.child.send({ type: 'close' })
    await stop(device?.child)
    await writer?.close()
    await stop(server)
    await rm(dataDir, { recursive: true, force: true })
    await rm(deviceDir, { recursive: true, force: true })
  }
}

const started = performance.now()
const rows: Row[] = []
for (const key of ORDER) {
  log(`${SYSTEMS[CATCH_UP_SYSTEMS[key].server].name}: ${CONVERSATIONS} conversations, ${CONVERSATIONS * OFFLINE} messages while offline, ${ROUNDS} round(s)…`)
  rows.push(...(await measure(key)))
}

/** Fully synced ms, or what a device that did not catch up had by the deadline. */
const synced = (row: Row) => (row.finished ? row.totalMs : `not after ${row.totalMs} (${row.current} of ${row.conversations} current)`)
const table = renderTable({
  headers: ['system', 'round', 'messages held per conversation', 'messages while offline', 'fully synced ms', 'first conversation current ms', 'server CPU ms', 'device CPU ms', 'server peak RSS MiB'],
  rows: rows.map(row => [row.system, row.round, row.heldPerConversation, row.messagesWhileOffline.toLocaleString('en-US'), synced(row), Number.isNaN(row.firstMs) ? '—' : row.firstMs, row.serverCpuMs, row.deviceCpuMs, row.serverPeakRssMiB]),
})
const took = `took ${round((performance.now() - started) / 1000, 1)} s`
if (ORDER.length < ALL.length) {
  console.log(`\n${table}\n\n${took} (--only: nothing written)`)
  process.exit(0)
}

const ratio = (a: number, b: number) => (b ? `${(a / b).toFixed(a / b >= 10 ? 0 : a / b >= 1 ? 1 : 2)}×` : '—')
const baselines = ALL.filter(key => key !== 'parley')
const nameOf = (key: CatchUpKey) => SYSTEMS[CATCH_UP_SYSTEMS[key].server].name
const at = (key: CatchUpKey, r: number) => rows.find(row => row.key === key && row.round === r)!
const METRICS: [string, 'totalMs' | 'firstMs' | 'serverCpuMs' | 'deviceCpuMs'][] = [
  ['fully synced ms', 'totalMs'],
  ['first conversation current ms', 'firstMs'],
  ['server CPU ms', 'serverCpuMs'],
  ['device CPU ms', 'deviceCpuMs'],
]
const sideBySide = renderTable({
  headers: ['round', '', 'Parley', ...baselines.flatMap(key => [nameOf(key), 'Parley ÷'])],
  rows: Array.from({ length: ROUNDS }, (_, r) => r + 1).flatMap(r =>
    METRICS.map(([label, metric]) => {
      const ours = at('parley', r)
      const cell = (row: Row) => (metric === 'totalMs' ? synced(row) : row[metric])
      // A device that did not finish spent its CPU on a different thing: no ratio then.
      const versus = (row: Row) => (row.finished && ours.finished ? ratio(ours[metric], row[metric]) : '—')
      return [r, label, cell(ours), ...baselines.flatMap(key => [cell(at(key, r)), versus(at(key, r))])]
    }),
  ),
})
const first = at('parley', 1)
const later = rows.filter(row => row.key === 'parley' && row.round > 1)
const verdict = [
  QUICK
    ? `- Target, a device offline while ${(CONVERSATIONS * 100).toLocaleString('en-US')} messages arrive across ${CONVERSATIONS} conversations fully synced ≤ ${TARGET_MS / 1000} s after it reconnects: not judged by --quick (${first.messagesWhileOffline.toLocaleString('en-US')} messages: ${first.totalMs} ms).`
    : `- Target, a device offline while ${(CONVERSATIONS * 100).toLocaleString('en-US')} messages arrive across ${CONVERSATIONS} conversations fully synced ≤ ${TARGET_MS / 1000} s after it reconnects: ${synced(first)} ms (round 1), ${first.finished && first.totalMs <= TARGET_MS ? 'met' : 'missed'}.`,
  ...(later.length ? [`- Later rounds, the same device coming back again with more history (${later.map(row => `round ${row.round}: ${synced(row)} ms, device CPU ${row.deviceCpuMs} ms`).join('; ')}).`] : []),
].join('\n')
const notes = [
  `- Each system on a fresh server. The writer (this process) makes ${CONVERSATIONS} conversations of ${HISTORY} messages with the device as a member; the device (its own process) opens all of them and saves them; then, ${ROUNDS === 1 ? 'once' : `${ROUNDS} times`}: the device goes offline, the writer adds ${OFFLINE} messages to every conversation (one change or update per message) and waits until the server holds them and is idle, and the device comes back and catches up.${ROUNDS > 1 ? ' Each round is a row: the device comes back to more history each time.' : ''} ~100-byte texts.`,
  '- Fully synced: from the start of the reconnect (opening the local storage again) until every conversation holds every message. Parley: `createClient` on the same LevelDB directory, every conversation opened (`client.conversation(id)`), and both `client.sync()` resolved and every timeline holding all messages. Stock automerge-repo: a new unpatched `Repo` on the same NodeFS directory, `repo.find` of every document, until each document has every message. Hocuspocus + Yjs: Node has no y-indexeddb, so the device keeps each `Y.Doc`\'s state in a file (saved when it goes offline, as y-indexeddb would in a browser); back, it applies the files to fresh `Y.Doc`s and opens a provider per document on one socket, until every provider has synced and every array has every message.',
  '- Writers: Parley, a backend publishing over HTTP (`POST /v1/conversations/:id/messages`, each message a checked, stored, numbered change); stock automerge-repo, an unpatched `Repo` client, done when the server reports our heads for its storage; Hocuspocus, providers on one socket, done when none has unsynced changes, then disconnected (Hocuspocus stores and unloads a document when its last connection goes, so the device\'s return loads it from the server\'s file).',
  '- Server CPU: the server process\'s CPU from the start of the reconnect to the device caught up; device CPU: the device process\'s own (opening storage, syncing, projecting). Server peak RSS is its high-water mark over the whole run, writes included.',
  `- A device that is not caught up ${DEADLINE_MS / 1000} s after it started back is reported as such, with how many conversations were current by then and the CPU spent meanwhile (no ratio).`,
  '- The raw ws relay and Socket.IO store nothing: a device that was offline never gets the messages it missed, so they have no catch-up to measure.',
  `- Stock automerge-repo syncs a document at most every 100 ms on each side. 1-minute load average after each round: ${Math.min(...rows.map(row => row.loadAverage[0]!))}–${Math.max(...rows.map(row => row.loadAverage[0]!))} (the machine, 2 cores, is shared with other work).`,
].join('\n')
const command = `npm run bench:catch-up${QUICK ? ' -- --quick' : ''}`
const intro = `A device, member of ${CONVERSATIONS} conversations, offline while ${(CONVERSATIONS * OFFLINE).toLocaleString('en-US')} messages arrive (${OFFLINE} in each), then reconnecting${ROUNDS > 1 ? ` (${ROUNDS} rounds, each to more history)` : ''}: time until every conversation holds every message.`
const markdown = `${intro}\n\n${table}\n\nSide by side (Parley ÷ baseline):\n\n${sideBySide}\n\n${verdict}\n\n${notes}`
console.log(`\n${markdown}\n\n${took}`)
const json = await writeResults('catch-up', command, rows, markdown)
console.log(`wrote ${json} and RESULTS.md`)
process.exit(0)
