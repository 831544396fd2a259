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
 * The members CHECK_EVERY apart also receive on a real client (a second device: Automerge
 * documents and sync for the head and every segment it lists, opened when the head lists
 * them), read arrivals from its documents, and after the run report any message missing
 * from them; their messages go out from the raw device, as the others' do.
 *
 * Orders over IPC: `setup`, `clock`, `start`, `stop`, `progress`, `sends`, `report`, `close`.
 */
import type { Doc } from '@automerge/automerge'
import { readHead, readSegmentEvents, segmentLength, type HeadDoc, type SegmentDoc } from '@parley/core'
import { now } from '../fanout/timing.ts'
import { ReplayConnection } from '../lib/replay-connection.ts'
import { received, type ReplayDocument } from '../lib/replay-member.ts'
import type { ChangeMeta } from '../lib/replay-wire.ts'
import { loopDelayP99Ms } from './loop-delay.ts'
import { CHECK_EVERY, type ReplaySetup, type WireChange } from './replay.ts'

const [url, segmentId, headId, firstArg, countArg, membersArg] = process.argv.slice(2) as [string, string, string, string, string, string]
const FIRST = Number(firstArg)
const COUNT = Number(countArg)
const MEMBERS = Number(membersArg)
const BATCH = 50
/** Events re-read behind the last seen length (a concurrent event may sort before the newest). */
const LOOKBACK = 32

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
  /** A real-client member's client, on a device of its own: it receives and checks. */
  client?: { connection: ReplayConnection; head: ReplayDocument; segments: Map<string, Promise<ReplayDocument>> }
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
const timers: ReturnType<typeof setTimeout>[] = []
/** Send times by member (index − FIRST) and round. */
const sendTimes: number[][] = Array.from({ length: COUNT }, () => [])
/** Arrivals, all members of this process: writer, round, time. */
const arrivalWriter: number[] = []
const arrivalRound: number[] = []
const arrivalAt: number[] = []
/** Which message a change is, and which segment a head change lists (from the recording). */
let messageOf = new Map<string, number>()
let segmentOfHead = new Map<string, string>()

const clock = () => now() - offset
const unwire = ([bytes, hash, deps]: WireChange): Recorded => ({ bytes: new Uint8Array(Buffer.from(bytes, 'base64')), hash, deps })

function arrived(writer: number, round: number, at: number): void {
  arrivalWriter.push(writer)
  arrivalRound.push(round)
  arrivalAt.push(at)
}

/** Counts each other member's message arriving at member `index`'s raw device. */
const counter = (index: number) => (change: ChangeMeta, at: number) => {
  const n = messageOf.get(change.hash)
  if (n === undefined) return
  const writer = n % MEMBERS
  if (writer !== index) arrived(writer, Math.floor(n / MEMBERS), at)
}

/** Opens a segment on the raw device (once), then answers it from change headers. */
function openSegment(m: Member, id: string, count: boolean): Promise<ReplayDocument> {
  let opening = m.segments.get(id)
  if (!opening) {
    opening = m.device.open(id, count ? { onChange: counter(m.index), reportWhileSyncing: true } : {}).then(doc => {
      doc.raw()
      return doc
    })
    opening.catch(error => m.failures.push(`member-${m.index}: opening segment ${id}: ${(error as Error).message}`))
    m.segments.set(id, opening)
  }
  return opening
}

/** A real client's segment: an Automerge document it reads each message from. */
function openClientSegment(m: Member, id: string, counted: Set<number>): void {
  const client = m.client!
  if (client.segments.has(id)) return
  const user = `member-${m.index}`
  let seen = 0
  const read = (doc: Doc<unknown>) => {
    const at = clock()
    const length = segmentLength(doc as Doc<SegmentDoc>)
    if (length === seen) return
    const { events } = readSegmentEvents(doc as Doc<SegmentDoc>, Math.max(0, seen - LOOKBACK))
    seen = length
    for (const event of events) {
      if (event.type !== 'message' || event.author === user) continue
      const [writer, round] = event.text.split('|', 2).map(Number) as [number, number]
      const key = writer * 1_000_000 + round
      if (counted.has(key)) continue
      counted.add(key)
      arrived(writer, round, at)
    }
  }
  const opening = client.connection.open(id).then(doc => {
    doc.onDoc = read
    read(doc.doc)
    return doc
  })
  opening.catch(error => m.failures.push(`member-${m.index}'s client: opening segment ${id}: ${(error as Error).message}`))
  client.segments.set(id, opening)
}

async function join(index: number, sends: Send[]): Promise<Member> {
  const user = `member-${index}`
  const real = index % CHECK_EVERY === 0
  const device = await ReplayConnection.connect(url, user, clock)
  const m: Member = { index, device, head: undefined as never, segments: new Map(), unlisted: new Map(), sends, failures: [] }
  // The head: a change listing a new segment opens it, as the client library follows its head.
  m.head = await device.open(headId, {
    automerge: true,
    reportWhileSyncing: true,
    onChange: change => {
      const listed = segmentOfHead.get(change.hash)
      if (listed === undefined) return
      void openSegment(m, listed, !real).catch(() => {})
      for (const send of m.unlisted.get(listed) ?? []) send()
      m.unlisted.delete(listed)
    },
  })
  await openSegment(m, segmentId, !real)
  if (!real) return m
  // A real-client member: a real client (Automerge documents and sync) receives and checks;
  // its messages go out from the raw device (a client that must first hold a recorded
  // change's deps would hold the group back whenever the server is behind by more than
  // the recorded lag).
  const connection = await ReplayConnection.connect(url, user, clock)
  const head = await connection.open(headId)
  m.client = { connection, head, segments: new Map() }
  /** Messages already counted: writer × 1,000,000 + round. */
  const counted = new Set<number>()
  const follow = (doc: Doc<unknown>) => {
    for (const id of readHead(doc as Doc<HeadDoc>).segments) openClientSegment(m, id, counted)
  }
  head.onDoc = follow
  follow(head.doc)
  await Promise.all(m.client.segments.values())
  return m
}

function send(m: Member, k: number): void {
  const message = m.sends[k]!
  const change = message.changes.at(-1)!
  if (message.created) {
    // automerge-repo offers a document it created; the head change lists it.
    let created: ReplayDocument
    try {
      created = m.device.create(message.segment, message.changes.map(c => c.bytes), m.client ? {} : { onChange: counter(m.index), reportWhileSyncing: true })
    } catch (error) {
      m.failures.push(`member-${m.index}: creating segment ${message.segment}: ${(error as Error).message}`)
      return
    }
    m.segments.set(message.segment, Promise.resolve(created))
    m.head.sendChange(message.head!.bytes, message.head!.hash, message.head!.deps)
    return
  }
  const go = () =>
    void openSegment(m, message.segment, !m.client).then(
      doc => doc.sendChange(change.bytes, change.hash, change.deps),
      () => {},
    )
  if (m.segments.has(message.segment)) go()
  else m.unlisted.set(message.segment, [...(m.unlisted.get(message.segment) ?? []), go])
}

function schedule(m: Member, k: number): void {
  const due = start + (m.index * 1000) / MEMBERS + k * 1000
  if (stopped || due >= start + durationMs || k >= m.sends.length) return
  timers.push(
    setTimeout(
      () => {
        if (stopped) return
        sendTimes[m.index - FIRST]![k] = clock()
        send(m, k)
        sent++
        schedule(m, k + 1)
      },
      Math.max(0, due - clock()),
    ),
  )
}

/** Latencies by window, from every member's send times; and the real clients' check. */
async function report(times: number[][]) {
  const firstWindow: number[] = []
  const lastWindow: number[] = []
  let delivered = 0
  for (let i = 0; i < arrivalAt.length; i++) {
    const t = times[arrivalWriter[i]!]?.[arrivalRound[i]!]
    if (t === undefined || t === null) continue
    delivered++
    const rel = t - start
    const latency = Math.round((arrivalAt[i]! - t) * 100) / 100
    if (rel < windowMs) firstWindow.push(latency)
    else if (rel >= durationMs - windowMs) lastWindow.push(latency)
  }
  let checked = 0
  let missing = 0
  const samples: string[] = []
  for (const m of members) {
    if (!m.client) continue
    const held = new Set<string>()
    for (const opening of m.client.segments.values()) {
      const doc = await opening.catch(() => undefined)
      if (!doc) continue
      for (const event of readSegmentEvents(doc.doc as Doc<SegmentDoc>, 0).events) if (event.type === 'message') held.add(event.text.split('|', 2).join('|'))
    }
    const absent: string[] = []
    times.forEach((list, writer) => {
      if (writer === m.index) return
      list.forEach((t, round) => {
        if (t === null) return
        checked++
        if (!held.has(`${writer}|${round}`)) absent.push(`${writer}|${round}`)
      })
    })
    missing += absent.length
    if (absent.length > 0) samples.push(`member-${m.index} lacks ${absent.length} (its client holds ${m.client.segments.size} segments): ${absent.slice(0, 10).join(', ')}`)
  }
  return {
    type: 'report',
    sent,
    delivered,
    firstWindow,
    lastWindow,
    checked,
    checkMissing: missing,
    checkMissingSample: samples.slice(0, 5),
    failures: members.flatMap(m => [...m.failures, m.device.failure?.message, m.client?.connection.failure?.message].filter((text): text is string => text !== undefined)).slice(0, 5),
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
      process.send!({ type: 'progress', sent, delivered: arrivalAt.length, segments: openSegments(), received: received.changes, held: received.held, loopP99Ms: loopDelayP99Ms() })
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
      for (const m of members) {
        m.device.close()
        m.client?.connection.close()
      }
      process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
process.send!({ type: 'started' })
