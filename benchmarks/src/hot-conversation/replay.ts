/**
 * Parley's group for the hot-conversation benchmark with a replaying load generator
 * (README "hot-conversation"): the real server and conversation as fanout/group.ts makes
 * them, then, before the timed run, every member's messages recorded as the client
 * library writes them, rolling over to a new segment whenever the newest is full
 * (lib/replay-conversation.ts recordConversation: real Automerge changes on the segment
 * and head synced from this server, one actor per member and document), handed to the
 * member processes (hot-conversation/replay-worker.ts), which send them on the same
 * schedule as the live members without Automerge work, open each new segment when their
 * head lists it, and keep the older ones open; a process of real clients checks that every
 * message arrives (hot-conversation/check-worker.ts).
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SYSTEMS } from '../latency/systems.ts'
import { forkWorker, freePort, nextMessage, spawnServer, stop, withTimeout } from '../lib/processes.ts'
import { readString, type SegmentDoc } from '@parley/core'
import { ReplayConnection } from '../lib/replay-connection.ts'
import { recordConversation, type RecordedConversation } from '../lib/replay-conversation.ts'
import type { RecordedChange } from '../lib/replay-record.ts'
import { actorOf, actorPrefix } from '../lib/replay-wire.ts'
import { ready } from '../fanout/group.ts'
import { SECRET, type Group } from '../fanout/system.ts'
import { FANOUT_SYSTEMS } from '../fanout/systems.ts'
import { clockOffset, now } from '../fanout/timing.ts'

const WORKER = fileURLToPath(new URL('./replay-worker.ts', import.meta.url))
const CHECKER = fileURLToPath(new URL('./check-worker.ts', import.meta.url))
const SETUP_TIMEOUT_MS = 300_000
const PAD = 'x'.repeat(100)
/**
 * A member's message is made on a replica holding every message sent LAG slots (10 ms
 * each at 100 members) or more before it: it depends on those, not on the last one or two,
 * which a client may not have yet (lib/replay-record.ts recordConversation).
 */
export const LAG = 2
/**
 * Members 0, CHECK_EVERY, 2·CHECK_EVERY … (2 of 100) are also followed by a real client
 * each, in a process of their own (check-worker.ts), which checks every message arrives.
 * A real client's Automerge receive and generate per delivery (the ladder cost of a
 * 100-writer segment) costs as much as 50 replaying members, and more with every segment
 * it holds: nine of them took 1.4–1.5 of the two cores; two, sharing the member processes,
 * slowed those from about minute four, and the latencies drifted with them (check-worker.ts).
 */
export const CHECK_EVERY = 50

/** The text of member `i`'s message of round `k` (~120 bytes, as the live members'). */
export const replayText = (i: number, k: number): string => `${i}|${k}|${PAD}`.slice(0, 120)

/** A recorded change over IPC: bytes (base64), hash, deps. */
export type WireChange = [string, string, string[]]
/** A member's message over IPC: segment, created (1) or not (0), changes, the head change of a created segment. */
export type WireSend = [string, 0 | 1, WireChange[], WireChange?]

export interface ReplaySetup {
  type: 'setup'
  /** By member of this worker, then round. */
  sends: WireSend[][]
  /** [change hash, message index n] of every message of the run. */
  messageOf: [string, number][]
  /** [head change hash, segment ID] of every head change the run makes. */
  segmentOfHead: [string, string][]
}

const wire = (change: RecordedChange): WireChange => [Buffer.from(change.bytes).toString('base64'), change.hash, change.deps]

/**
 * Actors: 12 random bytes for the run, of which the last 2 say the document (0xffff: the
 * head, else the segment's index in order of creation), then the writer's index.
 */
const actorIn = (prefix: string, document: number, writer: number) => actorOf(prefix.slice(0, 20) + document.toString(16).padStart(4, '0'), writer)

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
  /** The server's Prometheus metrics (its event-loop delay goes into the progress lines). */
  metricsUrl: string
  workers: ChildProcess[]
  offsets: number[]
  /** Seconds spent recording, not timed. */
  recordSeconds: number
  /** The segments the recording writes: every one in order of creation, with its events. */
  segments: RecordedConversation['segments']
  collect(): Promise<ReplayReport[]>
  close(): Promise<void>
}

/** `rounds` messages per member; a member starts the next segment when the newest holds `segmentSize` events (or SEGMENT_BYTES of event JSON). */
export async function startReplayGroup(members: number, workerCount: number, rounds: number, segmentSize: number): Promise<ReplayGroupRun> {
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
    // The segment and head as this server made them: the changes are recorded on top.
    const { segment, headId, head } = await readConversation(url, users[0]!, group.id)
    const t0 = performance.now()
    const prefix = actorPrefix()
    const recorded = recordConversation(
      { id: group.id, doc: segment },
      { id: headId, doc: head },
      users.map((user, i) => ({ user, segmentActor: (index: number) => actorIn(prefix, index, i), headActor: actorIn(prefix, 0xffff, i) })),
      rounds,
      LAG,
      replayText,
      { size: segmentSize },
    )
    const recordSeconds = (performance.now() - t0) / 1000
    const messageOf = [...recorded.messageOf]
    const segmentOfHead = [...recorded.segmentOfHead]
    const share = Math.ceil(members / workerCount)
    for (let from = 0; from < members; from += share) {
      const count = Math.min(share, members - from)
      const worker = forkWorker(WORKER, [url, group.id, headId, String(from), String(count), String(members)])
      worker.on('error', () => {})
      forked.push(worker)
      await nextMessage(worker, 'started')
      const setup: ReplaySetup = {
        type: 'setup',
        sends: recorded.sends.slice(from, from + count).map(list => list.map(send => [send.segment, send.created ? 1 : 0, send.changes.map(wire), ...(send.head ? [wire(send.head)] : [])] as WireSend)),
        messageOf,
        segmentOfHead,
      }
      worker.send(setup)
    }
    const checker = forkWorker(CHECKER, [url, headId, String(members)])
    checker.on('error', () => {})
    forked.push(checker)
    await nextMessage(checker, 'started')
    checker.send({ type: 'setup' })
    await withTimeout(Promise.all(forked.map(ready)), `${members} members to join`, SETUP_TIMEOUT_MS)
    const offsets: number[] = []
    for (const worker of forked) offsets.push(await clockOffset(worker))
    return { name: base.name, server, metricsUrl: `http://127.0.0.1:${port}/metrics`, workers: forked, offsets, recordSeconds, segments: recorded.segments, collect: () => collect(forked), close }
  } catch (error) {
    await close()
    throw error
  }
}

/** The conversation's first segment and its head, synced from the server as a member's client syncs them. */
async function readConversation(url: string, user: string, segmentId: string) {
  const reader = await ReplayConnection.connect(url, user, now)
  try {
    const segment = (await reader.open(segmentId)).doc
    const headId = readString((segment as SegmentDoc).conversation)
    if (!headId) throw new Error('the segment names no conversation')
    const head = (await reader.open(headId)).doc
    return { segment, headId, head }
  } finally {
    reader.close()
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
      const failed = nextMessage<{ message: string }>(worker, 'failed').then(({ message }) => Promise.reject(new Error(`a worker's report failed:\n${message}`)))
      failed.catch(() => {})
      const reply = Promise.race([nextMessage<ReplayReport>(worker, 'report'), failed])
      worker.send({ type: 'report', times })
      return withTimeout(reply, "a worker's report", 120_000)
    }),
  )
}
