/**
 * npm run bench:connections [-- --quick]
 *
 * Idle connections on one server: memory per connection (server RSS growth / count) for
 * 10,000 connections (1,000 with --quick) opened from this process, and for Parley the
 * event-loop lag p99 the server reports at /metrics while it holds them and pings them.
 * A Parley connection is authenticated (JWT at upgrade) and joined as a peer; each
 * baseline gets the cheapest idle connection its protocol allows.
 */
import { cbor } from '@automerge/automerge-repo'
import { SignJWT } from 'jose'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { io, type Socket } from 'socket.io-client'
import { WebSocket } from 'ws'
import { SYSTEMS } from './latency/systems.ts'
import { freePort, spawnServer, stop } from './lib/processes.ts'
import { renderTable, writeResults } from './lib/results.ts'
import { QUICK } from './lib/args.ts'

const COUNT = QUICK ? 1_000 : 10_000
const BATCH = 200
const SECRET = 'benchmark-secret-not-for-production'

interface Row {
  system: string
  connections: number
  rssBeforeMiB: number
  rssAfterMiB: number
  kbPerConnection: number
  eventLoopLagP99Ms: number | string
}

type Closer = () => void

async function rssKiB(pid: number): Promise<number> {
  return Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN)
}

function openWs(url: string, onOpen?: (socket: WebSocket) => Promise<void>): Promise<Closer> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url)
    socket.once('error', reject)
    socket.once('open', () => {
      void (onOpen ? onOpen(socket) : Promise.resolve()).then(() => resolve(() => socket.terminate()), reject)
    })
  })
}

/** Sends automerge-repo's `join` and waits for the `peer` answer. */
function joinAsPeer(socket: WebSocket, peerId: string): Promise<void> {
  return new Promise(resolve => {
    socket.once('message', () => resolve())
    socket.send(cbor.encode({ type: 'join', senderId: peerId, peerMetadata: {}, supportedProtocolVersions: ['1'] }))
  })
}

/** The systems measured, in table order (the latency benchmark's Parley variants connect as Parley does). */
const MEASURED = ['raw', 'socketio', 'hocuspocus', 'stock', 'parley'] as const
type MeasuredKey = (typeof MEASURED)[number]

const CONNECT: Record<MeasuredKey, (port: number, index: number) => Promise<Closer>> = {
  raw: port => openWs(`ws://127.0.0.1:${port}`),
  hocuspocus: port => openWs(`ws://127.0.0.1:${port}`),
  stock: (port, index) => openWs(`ws://127.0.0.1:${port}`, socket => joinAsPeer(socket, `idle-${index}`)),
  parley: async (port, index) => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(`user-${index % 500}`).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))
    return openWs(`ws://127.0.0.1:${port}/sync?token=${token}`, socket => joinAsPeer(socket, `idle-${index}`))
  },
  socketio: port =>
    new Promise((resolve, reject) => {
      const socket: Socket = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false })
      socket.once('connect', () => resolve(() => socket.disconnect()))
      socket.once('connect_error', reject)
    }),
}

async function lagP99Ms(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  return Math.round(Number(/^parley_event_loop_lag_seconds ([\d.e-]+)/m.exec(text)?.[1] ?? Number.NaN) * 1000 * 100) / 100
}

async function measure(key: MeasuredKey): Promise<Row> {
  const system = SYSTEMS[key]
  const port = await freePort()
  const dataDir = await mkdtemp(join(tmpdir(), `parley-bench-connections-${key}-`))
  const { command, args } = system.serverCommand(port, dataDir, SECRET)
  // Parley's limits are per user and per IP; this benchmark is one IP and 500 users.
  const extra = key === 'parley' ? ['--max-connections-per-ip', String(COUNT + 100), '--max-connections-per-user', String(COUNT)] : []
  let server: ChildProcess | undefined
  const closers: Closer[] = []
  try {
    server = await spawnServer(command, [...args, ...extra])
    await new Promise(resolve => setTimeout(resolve, 500))
    const before = await rssKiB(server.pid!)
    for (let start = 0; start < COUNT; start += BATCH) {
      closers.push(...(await Promise.all(Array.from({ length: Math.min(BATCH, COUNT - start) }, (_, i) => CONNECT[key](port, start + i)))))
    }
    // Let allocation settle (and, for Parley, a scrape window of pings pass).
    await new Promise(resolve => setTimeout(resolve, 3000))
    if (key === 'parley') await lagP99Ms(port) // resets the lag window
    await new Promise(resolve => setTimeout(resolve, 2000))
    const after = await rssKiB(server.pid!)
    return {
      system: system.name,
      connections: COUNT,
      rssBeforeMiB: Math.round(before / 1024),
      rssAfterMiB: Math.round(after / 1024),
      kbPerConnection: Math.round(((after - before) / COUNT) * 10) / 10,
      eventLoopLagP99Ms: key === 'parley' ? await lagP99Ms(port) : '—',
    }
  } finally {
    for (const close of closers) close()
    await stop(server)
    await rm(dataDir, { recursive: true, force: true })
  }
}

const rows: Row[] = []
for (const key of MEASURED) {
  process.stderr.write(`connections: ${SYSTEMS[key].name} (${COUNT})…\n`)
  rows.push(await measure(key))
}
const table = renderTable({
  headers: ['system', 'connections', 'server RSS before MiB', 'after MiB', 'KB per connection', 'event-loop lag p99 ms'],
  rows: rows.map(row => [row.system, row.connections, row.rssBeforeMiB, row.rssAfterMiB, row.kbPerConnection, row.eventLoopLagP99Ms]),
})
const command = `npm run bench:connections${QUICK ? ' -- --quick' : ''}`
console.log(`\n${table}\n`)
const out = await writeResults('connections', command, rows, `${COUNT} idle connections opened from one client process, ${BATCH} at a time; KB per connection = server RSS growth / connections. Targets: ≤ 20 KB per connection; event-loop lag p99 ≤ 20 ms.\n\n${table}`)
console.log(`wrote ${out} and RESULTS.md`)
process.exit(0)
