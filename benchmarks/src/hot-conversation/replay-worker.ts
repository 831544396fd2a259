/**
 * One member process of the hot-conversation benchmark for Parley, replaying
 * (hot-conversation/replay.ts): members `first` … `first + count − 1`, each with the
 * messages recorded for it. The schedule is worker.ts's (member i's round k due at
 * start + i × 1000 / members + k × 1000 ms). Each member is a device with one connection
 * holding the conversation's head (an Automerge document: a few changes a minute) and its
 * segments (raw), as a client's repo holds them:
 *
 * - a due message goes out in the sync message a client holding it and what it received
 *   would send (lib/replay-member.ts sendChange), to the segment it was recorded for; a
 *   message that starts a segment creates it (automerge-repo's offer of a new document,
 *   Automerge's own sync) and sends the head change that lists it;
 * - a head change that lists a new segment opens it (`request`, as the client library's
 *   `loadNewest`); every opened segment stays open. A message recorded for a segment
 *   whose head change has not reached this member yet waits for it (the library writes
 *   only to segments its head lists; open loop otherwise, see replay.ts);
 * - arrivals are read from change headers (which message: the recording's hash table).
 *
 * Whether every message reached members' documents is checked by real clients in a process
 * of their own (check-worker.ts).
 *
 * Orders over IPC: `setup`, `clock`, `start`, `stop`, `progress`, `sends`, `report`, `close`.
 */
import { now } from '../fanout/timing.ts'
import { ReplayConnection } from '../lib/replay-connection.ts'
import { received, type ReplayDocument } from '../lib/replay-member.ts'
import type { ChangeMeta } from '../lib/replay-wire.ts'
import { Arrivals } from './arrivals.ts'
import { loopDelayP99Ms } from './loop-delay.ts'
import type { ReplaySetup, WireChange } from './replay.ts'

const [url, segmentId, headId, firstArg, countArg, membersArg] = process.argv.slice(2) as [string, string, string, string, string, string]
const FIRST = Number(firstArg)
const COUNT = Number(countArg)
const MEMBERS = Number(membersArg)
const BATCH = 50

interface Recorded {
  bytes: Uint8Array
  hash: string
  deps: string[]
}
interface Send {
  segment: string
  created: boolean
  changes: Recorded[]
  head?: Recorded
}
interface Member {
  index: number
  /** The device that sends (raw). */
  device: ReplayConnection
  head: ReplayDocument
  /** Its segments, by ID: opened (raw) or being opened. */
  segments: Map<string, Promise<ReplayDocument>>
  /** Sends waiting for the head change that lists their segment, by segment ID. */
  unlisted: Map<string, (() => void)[]>
  sends: Send[]
  failures: string[]
}

let offset = 0
let start = 0
let durationMs = 0
let windowMs = 0
let sent = 0
let stopped = false
const members: Member[] = []
/** Sends scheduled and not yet due (a fired timer is dropped: the run schedules 60,000). */
const timers = new Set<ReturnType<typeof setTimeout>>()
/** Send times by member (index − FIRST) and round. */
const sendTimes: number[][] = Array.from({ length: COUNT }, () => [])
/** Arrivals, all members of this process. */
const arrivals = new Arrivals()
/** Which message a change is, and which segment a head change lists (from the recording). */
let messageOf = new Map<string, number>()
let segmentOfHead = new Map<string, string>()

const clock = () => now() - offset
const unwire = ([bytes, hash, deps]: WireChange): Recorded => ({ bytes: new Uint8Array(Buffer.from(bytes, 'base64')), hash, deps })

const arrived = (writer: number, round: number, at: number): void => arrivals.add(writer, round, at)

/** Counts each other member's message arriving at member `index`'s raw device. */
const counter = (index: number) => (change: ChangeMeta, at: number) => {
  const n = messageOf.get(change.hash)
  if (n === undefined) return
  const writer = n % MEMBERS
  if (writer !== index) arrived(writer, Math.floor(n / MEMBERS), at)
}

/** Opens a segment on the raw device (once), then answers it from change headers. */
function openSegment(m: Member, id: string): Promise<ReplayDocument> {
  let opening = m.segments.get(id)
  if (!opening) {
    opening = m.device.open(id, { onChange: counter(m.index), reportWhileSyncing: true }).then(doc => {
      doc.raw()
      return doc
    })
    opening.catch(error => m.failures.push(`member-${m.index}: opening segment ${id}: ${(error as Error).message}`))
    m.segments.set(id, opening)
  }
  return opening
}

async function join(index: number, sends: Send[]): Promise<Member> {
  const user = `member-${index}`
  const device = await ReplayConnection.connect(url, user, clock)
  const m: Member = { index, device, head: undefined as never, segments: new Map(), unlisted: new Map(), sends, failures: [] }
  // The head: a change listing a new segment opens it, as the client library follows its head.
  m.head = await device.open(headId, {
    automerge: true,
    reportWhileSyncing: true,
    onChange: change => {
      const listed = segmentOfHead.get(change.hash)
      if (listed === undefined) return
      void openSegment(m, listed).catch(() => {})
      for (const send of m.unlisted.get(listed) ?? []) send()
      m.unlisted.delete(listed)
    },
  })
  await openSegment(m, segmentId)
  return m
}

function send(m: Member, k: number): void {
  const message = m.sends[k]!
  const change = message.changes.at(-1)!
  if (message.created) {
    // automerge-repo offers a document it created; the head change lists it.
    let created: ReplayDocument
    try {
      created = m.device.create(message.segment, message.changes.map(c => c.bytes), { onChange: counter(m.index), reportWhileSyncing: true })
    } catch (error) {
      m.failures.push(`member-${m.index}: creating segment ${message.segment}: ${(error as Error).message}`)
      return
    }
    m.segments.set(message.segment, Promise.resolve(created))
    m.head.sendChange(message.head!.bytes, message.head!.hash, message.head!.deps)
    return
  }
  const go = () =>
    void openSegment(m, message.segment).then(
      doc => doc.sendChange(change.bytes, change.hash, change.deps),
      () => {},
    )
  if (m.segments.has(message.segment)) go()
  else m.unlisted.set(message.segment, [...(m.unlisted.get(message.segment) ?? []), go])
}

function schedule(m: Member, k: number): void {
  const due = start + (m.index * 1000) / MEMBERS + k * 1000
  if (stopped || due >= start + durationMs || k >= m.sends.length) return
  const timer = setTimeout(
    () => {
      timers.delete(timer)
      if (stopped) return
      sendTimes[m.index - FIRST]![k] = clock()
      send(m, k)
      sent++
      schedule(m, k + 1)
    },
    Math.max(0, due - clock()),
  )
  timers.add(timer)
}

/** Latencies by window, from every member's send times. */
async function report(times: number[][]) {
  const firstWindow: number[] = []
  const lastWindow: number[] = []
  let delivered = 0
  for (let i = 0; i < arrivals.length; i++) {
    const t = times[arrivals.writer(i)]?.[arrivals.round(i)]
    if (t === undefined || t === null) continue
    delivered++
    const rel = t - start
    const latency = Math.round((arrivals.at(i) - t) * 100) / 100
    if (rel < windowMs) firstWindow.push(latency)
    else if (rel >= durationMs - windowMs) lastWindow.push(latency)
  }
  return {
    type: 'report',
    sent,
    delivered,
    firstWindow,
    lastWindow,
    checked: 0,
    checkMissing: 0,
    checkMissingSample: [],
    failures: members.flatMap(m => [...m.failures, m.device.failure?.message].filter((text): text is string => text !== undefined)).slice(0, 5),
  }
}

async function setup(order: ReplaySetup): Promise<void> {
  messageOf = new Map(order.messageOf)
  segmentOfHead = new Map(order.segmentOfHead)
  const recorded = order.sends.map(list => list.map(([segment, created, changes, head]): Send => ({ segment, created: created === 1, changes: changes.map(unwire), ...(head ? { head: unwire(head) } : {}) })))
  for (let at = 0; at < COUNT; at += BATCH) {
    members.push(...(await Promise.all(recorded.slice(at, at + BATCH).map((list, i) => join(FIRST + at + i, list)))))
  }
}

/** Segments open on the raw devices, summed over this process's members. */
const openSegments = () => members.reduce((sum, m) => sum + m.segments.size, 0)

process.on('message', (order: { type: string; offset?: number; start?: number; durationMs?: number; windowMs?: number; times?: number[][] } | ReplaySetup) => {
  switch (order.type) {
    case 'setup':
      setup(order as ReplaySetup).then(
        () => process.send!({ type: 'ready' }),
        error => process.send!({ type: 'failed', message: (error as Error).stack ?? String(error) }),
      )
      break
    case 'clock':
      process.send!({ type: 'clock', at: now() })
      break
    case 'start': {
      const o = order as { offset: number; start: number; durationMs: number; windowMs: number }
      offset = o.offset
      start = o.start
      durationMs = o.durationMs
      windowMs = o.windowMs
      for (const m of members) schedule(m, 0)
      break
    }
    case 'stop':
      stopped = true
      for (const timer of timers) clearTimeout(timer)
      process.send!({ type: 'stopped', sent })
      break
    case 'progress':
      process.send!({ type: 'progress', sent, delivered: arrivals.length, segments: openSegments(), received: received.changes, held: received.held, loopP99Ms: loopDelayP99Ms() })
      break
    case 'sends':
      process.send!({ type: 'sends', first: FIRST, times: sendTimes })
      break
    case 'report':
      report((order as { times: number[][] }).times).then(
        reply => process.send!(reply),
        error => process.send!({ type: 'failed', message: (error as Error).stack ?? String(error) }),
      )
      break
    case 'close':
      for (const timer of timers) clearTimeout(timer)
      for (const m of members) m.device.close()
      process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
process.send!({ type: 'started' })
