/**
 * Parley's group for the hot-conversation benchmark with a replaying load generator
 * (README "hot-conversation"): the real server and conversation as fanout/group.ts makes
 * them, then, before the timed run, every member's messages recorded (lib/replay-record.ts
 * recordConversation: real Automerge changes on the segment synced from this server, one
 * actor per member), handed to the member processes (hot-conversation/replay-worker.ts),
 * which send them on the same schedule as the live members without Automerge work.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SYSTEMS } from '../latency/systems.ts'
import { forkWorker, freePort, nextMessage, spawnServer, stop, withTimeout } from '../lib/processes.ts'
import { ReplayMember } from '../lib/replay-member.ts'
import { recordConversation } from '../lib/replay-record.ts'
import { actorOf, actorPrefix } from '../lib/replay-wire.ts'
import { ready } from '../fanout/group.ts'
import { SECRET, type Group } from '../fanout/system.ts'
import { FANOUT_SYSTEMS } from '../fanout/systems.ts'
import { clockOffset, now } from '../fanout/timing.ts'

const WORKER = fileURLToPath(new URL('./replay-worker.ts', import.meta.url))
const SETUP_TIMEOUT_MS = 300_000
const PAD = 'x'.repeat(100)
/**
 * A member's message is made on a replica holding every message sent LAG slots (10 ms
 * each at 100 members) or more before it: it depends on those, not on the last one or two,
 * which a client may not have yet (lib/replay-record.ts recordConversation).
 */
export const LAG = 2
/**
 * Members 0, CHECK_EVERY, 2·CHECK_EVERY … (9 of 100) receive on a real client and check
 * every message arrives; they send from a second, raw device (replay-worker.ts).
 */
export const CHECK_EVERY = 12

/** The text of member `i`'s message of round `k` (~120 bytes, as the live members'). */
export const replayText = (i: number, k: number): string => `${i}|${k}|${PAD}`.slice(0, 120)

export interface ReplayReport {
  sent: number
  delivered: number
  firstWindow: number[]
  lastWindow: number[]
  checked: number
  checkMissing: number
  checkMissingSample: string[]
  failures: string[]
}

export interface ReplayGroupRun {
  name: string
  server: ChildProcess
  workers: ChildProcess[]
  offsets: number[]
  /** Seconds spent recording, not timed. */
  recordSeconds: number
  collect(): Promise<ReplayReport[]>
  close(): Promise<void>
}

export async function startReplayGroup(members: number, workerCount: number, rounds: number): Promise<ReplayGroupRun> {
  const system = FANOUT_SYSTEMS.parley
  const base = SYSTEMS.parley
  const port = await freePort()
  const dataDir = await mkdtemp(join(tmpdir(), 'parley-bench-hot-replay-'))
  const { command, args } = base.serverCommand(port, dataDir, SECRET)
  let server: ChildProcess | undefined
  let group: Group | undefined
  const forked: ChildProcess[] = []
  const close = async (): Promise<void> => {
    for (const worker of forked) if (worker.connected) worker.send({ type: 'close' })
    await Promise.all(forked.map(stop))
    await group?.close()
    await stop(server)
    await rm(dataDir, { recursive: true, force: true })
  }
  try {
    server = await spawnServer(command, [...args, ...(system.serverArgs?.(members) ?? [])])
    const url = `ws://127.0.0.1:${port}${base.path ?? ''}`
    const users = Array.from({ length: members }, (_, i) => `member-${i}`)
    group = await withTimeout(system.createGroup({ url, httpUrl: `http://127.0.0.1:${port}`, users }), 'the group', SETUP_TIMEOUT_MS)
    // The segment as this server made it: the changes are recorded on top of its genesis.
    const first = await ReplayMember.join({ url, user: users[0]!, documentId: group.id, answer: true, clock: now })
    const segment = first.doc
    first.close()
    const t0 = performance.now()
    const prefix = actorPrefix()
    const recorded = recordConversation(
      segment,
      users.map((user, i) => ({ user, actor: actorOf(prefix, i) })),
      rounds,
      LAG,
      replayText,
    )
    const recordSeconds = (performance.now() - t0) / 1000
    const share = Math.ceil(members / workerCount)
    for (let from = 0; from < members; from += share) {
      const count = Math.min(share, members - from)
      const worker = forkWorker(WORKER, [url, group.id, String(from), String(count), String(members)])
      worker.on('error', () => {})
      forked.push(worker)
      await nextMessage(worker, 'started')
      worker.send({
        type: 'setup',
        changes: recorded.slice(from, from + count).map(list => list.map(change => [Buffer.from(change.bytes).toString('base64'), change.hash, change.deps])),
      })
    }
    await withTimeout(Promise.all(forked.map(ready)), `${members} members to join`, SETUP_TIMEOUT_MS)
    const offsets: number[] = []
    for (const worker of forked) offsets.push(await clockOffset(worker))
    return { name: base.name, server, workers: forked, offsets, recordSeconds, collect: () => collect(forked), close }
  } catch (error) {
    await close()
    throw error
  }
}

/** Every member's send times, then each worker matches them with its arrivals. */
async function collect(workers: ChildProcess[]): Promise<ReplayReport[]> {
  const parts = await Promise.all(
    workers.map(worker => {
      const reply = nextMessage<{ first: number; times: number[][] }>(worker, 'sends')
      worker.send({ type: 'sends' })
      return withTimeout(reply, "a worker's send times", 60_000)
    }),
  )
  const times: number[][] = []
  for (const { first, times: theirs } of parts) theirs.forEach((list, i) => (times[first + i] = list))
  return Promise.all(
    workers.map(worker => {
      const reply = nextMessage<ReplayReport>(worker, 'report')
      worker.send({ type: 'report', times })
      return withTimeout(reply, "a worker's report", 120_000)
    }),
  )
}
