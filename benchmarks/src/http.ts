/**
 * npm run bench:http [-- --quick]
 *
 * The HTTP face: how long after a publish a waiting long poll answers and an SSE stream
 * delivers, what a thousand idle long polls cost the server, and how fast all of them
 * wake for one message. Parley (a real parley-server process) against a bare node:http
 * baseline with the same routes, in the same run; the load generator is this process.
 */
import { SignJWT } from 'jose'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cpuSeconds, freePort, spawnServer, stop } from './lib/processes.ts'
import { renderTable, writeResults } from './lib/results.ts'
import { summarize, type Summary } from './lib/stats.ts'
import { QUICK } from './lib/args.ts'

const ROUNDS = QUICK ? 50 : 300
const IDLE_POLLS = QUICK ? 200 : 1000
const IDLE_SECONDS = QUICK ? 2 : 5
const SECRET = 'benchmark-secret-not-for-production'
const PARLEY_BIN = fileURLToPath(new URL('../../sync-server/bin/parley-server.js', import.meta.url))
const BASELINE = fileURLToPath(new URL('./http/baseline-server.ts', import.meta.url))

interface Target {
  name: string
  start(port: number, dataDir: string): Promise<ChildProcess>
  /** Creates the conversation; returns the path prefix of its routes. */
  prepare(base: string, headers: Record<string, string>): Promise<string>
  /** How many long polls the server holds right now, when it can tell. */
  waitingPolls?(base: string): Promise<number>
}

const TARGETS: Target[] = [
  {
    name: 'node:http baseline (in memory)',
    start: port => spawnServer(process.execPath, ['--import', 'tsx', BASELINE, String(port)]),
    prepare: async () => '/c',
  },
  {
    name: 'Parley',
    start: (port, dataDir) => spawnServer(process.execPath, [PARLEY_BIN, '--port', String(port), '--data', dataDir, '--jwt-secret', SECRET, '--log-level', 'warn']),
    async prepare(base, headers) {
      const response = await fetch(`${base}/v1/conversations`, { method: 'POST', headers, body: JSON.stringify({ members: ['reader'] }) })
      return `/v1/conversations/${((await response.json()) as { id: string }).id}`
    },
    async waitingPolls(base) {
      const text = await (await fetch(`${base}/metrics`)).text()
      return Number(/^parley_long_polls_waiting (\d+)/m.exec(text)?.[1] ?? 0)
    },
  },
]

interface Row {
  system: string
  longPoll: Summary
  sse: Summary
  idleCpuMsPerSecond: number
  fanOutMs: number
}

const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6
const settle = () => new Promise(resolve => setTimeout(resolve, 20))

async function measure(target: Target): Promise<Row> {
  const port = await freePort()
  const dataDir = await mkdtemp(join(tmpdir(), 'parley-bench-http-'))
  const server = await target.start(port, dataDir)
  try {
    const base = `http://127.0.0.1:${port}`
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('writer').setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
    const path = await target.prepare(base, headers)
    const publish = (text: string) => fetch(`${base}${path}/messages`, { method: 'POST', headers, body: JSON.stringify({ text }) }).then(response => response.json() as Promise<{ seq: number }>)
    const poll = (after: number, wait: number) => fetch(`${base}${path}/events?after=${after}&wait=${wait}`, { headers }).then(response => response.json() as Promise<{ events: unknown[] }>)

    // Long poll: publish → the waiting poll's answer.
    const longPoll: number[] = []
    let last = (await publish('warm-up')).seq
    for (let round = 0; round < ROUNDS; round++) {
      const answered = poll(last, 30)
      await settle()
      const start = process.hrtime.bigint()
      last = (await publish(`poll ${round}`)).seq
      await answered
      longPoll.push(ms(start))
    }

    // SSE: publish → the event on an open stream.
    const sse: number[] = []
    const stream = await fetch(`${base}${path}/stream?after=${last}`, { headers })
    const reader = stream.body!.getReader()
    let buffered = ''
    const nextEvent = async (seq: number): Promise<void> => {
      while (!buffered.includes(`id: ${seq}\n`)) buffered += new TextDecoder().decode((await reader.read()).value)
      buffered = buffered.slice(buffered.indexOf(`id: ${seq}\n`) + 1)
    }
    for (let round = 0; round < ROUNDS; round++) {
      const start = process.hrtime.bigint()
      const { seq } = await publish(`sse ${round}`)
      await nextEvent(seq)
      sse.push(ms(start))
      last = seq
    }
    await reader.cancel()

    // Idle long polls: server CPU while they wait, then one message wakes them all.
    const waiting = Array.from({ length: IDLE_POLLS }, () => poll(last, 60))
    // Measure only once every poll is parked (setting them up is not idle time).
    await new Promise(resolve => setTimeout(resolve, 1000))
    for (let tries = 0; target.waitingPolls && (await target.waitingPolls(base)) < IDLE_POLLS && tries < 100; tries++) await new Promise(resolve => setTimeout(resolve, 100))
    await new Promise(resolve => setTimeout(resolve, 500))
    const cpuBefore = cpuSeconds(server.pid!)
    await new Promise(resolve => setTimeout(resolve, IDLE_SECONDS * 1000))
    const idleCpuMsPerSecond = ((cpuSeconds(server.pid!) - cpuBefore) * 1000) / IDLE_SECONDS
    const start = process.hrtime.bigint()
    await publish('wake everyone')
    await Promise.all(waiting)
    const fanOutMs = ms(start)
    return { system: target.name, longPoll: summarize(longPoll), sse: summarize(sse), idleCpuMsPerSecond: Math.round(idleCpuMsPerSecond * 10) / 10, fanOutMs: Math.round(fanOutMs) }
  } finally {
    await stop(server)
    await rm(dataDir, { recursive: true, force: true })
  }
}

const rows: Row[] = []
for (const target of TARGETS) {
  process.stderr.write(`http: ${target.name} (${ROUNDS} rounds, ${IDLE_POLLS} idle polls)…\n`)
  rows.push(await measure(target))
}
const table = renderTable({
  headers: ['system', 'long-poll wake-up p50 ms', 'p99 ms', 'SSE delivery p50 ms', 'p99 ms', `${IDLE_POLLS} idle polls: server CPU ms/s`, `wake all ${IDLE_POLLS} ms`],
  rows: rows.map(row => [row.system, row.longPoll.p50, row.longPoll.p99, row.sse.p50, row.sse.p99, row.idleCpuMsPerSecond, row.fanOutMs]),
})
const [baseline, ours] = rows as [Row, Row]
const notes = [
  `- Long-poll wake-up and SSE delivery are measured from the publish request's start to the poll's answer / the event on the stream, so they include the publish itself (for Parley: validation, the segment write, numbering, LevelDB).`,
  `- Parley's long-poll wake-up p50 is ${(ours.longPoll.p50 / baseline.longPoll.p50).toFixed(1)}× the bare baseline's; SSE ${(ours.sse.p50 / baseline.sse.p50).toFixed(1)}×.`,
].join('\n')
const command = `npm run bench:http${QUICK ? ' -- --quick' : ''}`
console.log(`\n${table}\n\n${notes}\n`)
const json = await writeResults('http', command, rows, `${ROUNDS} publish → delivery rounds each, one at a time; then ${IDLE_POLLS} long polls left waiting ${IDLE_SECONDS} s and woken by one message.\n\n${table}\n\n${notes}`)
console.log(`wrote ${json} and RESULTS.md`)
process.exit(0)
