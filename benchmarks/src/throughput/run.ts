/**
 * One system ready for the throughput benchmark: its server on a fresh data directory,
 * C conversations, their senders and receivers spread over load-generator processes
 * (conversation i's sender in worker i mod W, its receiver in the next one, so every
 * message crosses processes), and each worker's clock offset measured.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SYSTEMS } from '../latency/systems.ts'
import { forkWorker, freePort, nextMessage, spawnServer, stop, withTimeout } from '../lib/processes.ts'
import { ready } from '../fanout/group.ts'
import { SECRET } from '../fanout/system.ts'
import { clockOffset } from '../fanout/timing.ts'
import { actorPrefix } from '../lib/replay-wire.ts'
import { THROUGHPUT_SYSTEMS, type ThroughputKey } from './systems.ts'

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url))
/** Parley's generator replays recorded sync messages (replay-worker.ts, README "throughput"). */
const REPLAY_WORKER = fileURLToPath(new URL('./replay-worker.ts', import.meta.url))
const SETUP_TIMEOUT_MS = 300_000

/** Parley's rows replay recorded messages; BENCH_LIVE_GENERATOR=1 runs its live Automerge members instead (worker.ts), for comparison. */
export const replays = (key: ThroughputKey): boolean => key === 'parley' && !process.env.BENCH_LIVE_GENERATOR

export interface StepReport {
  sent: number
  delivered: number
  sentAt: number[]
  latency: number[]
  lag: number[]
  /** Replaying generator: messages the real-client receivers should hold, and those they did not. */
  checked?: number
  checkMissing?: number
  checkMissingSample?: string[]
  failures?: string[]
}

export interface SystemRun {
  name: string
  server: ChildProcess
  workers: ChildProcess[]
  offsets: number[]
  /** The step's reports when the workers match sends and arrivals across processes (replaying generator). */
  collect?(): Promise<StepReport[]>
  close(): Promise<void>
}

/**
 * `plan`: messages per conversation the run may send (replaying generator: how many to
 * record for each conversation, warm-up included).
 */
export async function startSystem(key: ThroughputKey, conversations: number, workerCount: number, plan?: number[]): Promise<SystemRun> {
  const system = THROUGHPUT_SYSTEMS[key]
  const base = SYSTEMS[system.server]
  const port = await freePort()
  const dataDir = await mkdtemp(join(tmpdir(), `parley-bench-throughput-${key}-`))
  const { command, args } = base.serverCommand(port, dataDir, SECRET)
  let server: ChildProcess | undefined
  const workers: ChildProcess[] = []
  const close = async (): Promise<void> => {
    for (const worker of workers) if (worker.connected) worker.send({ type: 'close' })
    await Promise.all(workers.map(stop))
    await stop(server)
    await rm(dataDir, { recursive: true, force: true })
  }
  try {
    server = await spawnServer(command, [...args, ...(system.serverArgs?.(2 * conversations) ?? [])])
    const url = `ws://127.0.0.1:${port}${base.path ?? ''}`
    // The generators start (tsx, imports) while the conversations are made.
    for (let w = 0; w < workerCount; w++) {
      const worker = replays(key) ? forkWorker(REPLAY_WORKER, [url]) : forkWorker(WORKER, [key, url])
      // An order sent to a worker that died is an 'error' event; the death itself fails the step that waits on it.
      worker.on('error', () => {})
      worker.on('message', (message: { type: string; messages?: number; seconds?: number }) => {
        if (message.type === 'recorded') process.stderr.write(`[a generator recorded ${message.messages} messages in ${message.seconds!.toFixed(1)} s] `)
      })
      workers.push(worker)
    }
    const [groups] = await Promise.all([
      withTimeout(system.create({ url, httpUrl: `http://127.0.0.1:${port}` }, conversations), `${conversations} conversations`, SETUP_TIMEOUT_MS),
      ...workers.map(worker => nextMessage(worker, 'started')),
    ])
    const share = (w: number) => groups.flatMap((group, i) => (i % workerCount === w ? [[i, group] as [number, string]] : []))
    const actors = actorPrefix()
    workers.forEach((worker, w) => worker.send({ type: 'setup', senders: share(w), receivers: share((w + workerCount - 1) % workerCount), plan, actorPrefix: actors }))
    await withTimeout(Promise.all(workers.map(ready)), `${2 * conversations} members to join`, SETUP_TIMEOUT_MS)
    const offsets: number[] = []
    for (const worker of workers) offsets.push(await clockOffset(worker))
    const collect = replays(key) ? () => collectReplay(workers) : undefined
    return { name: base.name, server, workers, offsets, collect, close }
  } catch (error) {
    await close()
    throw error
  }
}

type Sends = { conversation: number[]; ordinal: number[]; at: number[] }

/** Every worker's send times, then each worker matches them with its arrivals (replay-worker.ts). */
async function collectReplay(workers: ChildProcess[]): Promise<StepReport[]> {
  const parts = await Promise.all(
    workers.map(worker => {
      const reply = nextMessage<{ sends: Sends }>(worker, 'sends')
      worker.send({ type: 'sends' })
      return withTimeout(reply, "a worker's send times", 60_000)
    }),
  )
  const sends: Sends = { conversation: parts.flatMap(p => p.sends.conversation), ordinal: parts.flatMap(p => p.sends.ordinal), at: parts.flatMap(p => p.sends.at) }
  return Promise.all(
    workers.map(worker => {
      const reply = nextMessage<StepReport>(worker, 'report')
      worker.send({ type: 'report', sends })
      return withTimeout(reply, "a worker's report", 120_000)
    }),
  )
}
