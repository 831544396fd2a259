/**
 * One member process of the hot-conversation benchmark for Parley, replaying
 * (hot-conversation/replay.ts): members `first` … `first + count − 1`, each with the
 * changes recorded for it. The schedule is worker.ts's (member i's round k due at
 * start + i × 1000 / members + k × 1000 ms); a due change goes out in the sync message a
 * client holding it and what it received would send (lib/replay-member.ts sendChange).
 * Arrivals are read from change headers (writer from the actor, round from seq − 1); the
 * members CHECK_EVERY apart also receive on a real client (an Automerge document and
 * sync), read arrivals from its document, and after the run report any message missing
 * from it; their messages go out from a second, raw device of the same user.
 *
 * Orders over IPC: `setup`, `clock`, `start`, `progress`, `sends`, `report`, `close`.
 */
import type { Doc } from '@automerge/automerge'
import { readSegmentEvents, segmentLength, type SegmentDoc } from '@parley/core'
import { now } from '../fanout/timing.ts'
import { ReplayMember } from '../lib/replay-member.ts'
import { actorIndex } from '../lib/replay-wire.ts'
import { CHECK_EVERY } from './replay.ts'

const [url, segmentId, firstArg, countArg, membersArg] = process.argv.slice(2) as [string, string, string, string, string]
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
interface Member {
  index: number
  /** The connection that sends (raw). */
  member: ReplayMember
  /** A real-client member's client, on a device of its own: it receives and checks. */
  client?: ReplayMember
  changes: Recorded[]
}

let offset = 0
let start = 0
let durationMs = 0
let windowMs = 0
let sent = 0
const members: Member[] = []
const timers: ReturnType<typeof setTimeout>[] = []
/** Send times by member (index − FIRST) and round. */
const sendTimes: number[][] = Array.from({ length: COUNT }, () => [])
/** Arrivals, all members of this process: writer, round, time. */
const arrivalWriter: number[] = []
const arrivalRound: number[] = []
const arrivalAt: number[] = []

const clock = () => now() - offset

function arrived(writer: number, round: number, at: number): void {
  arrivalWriter.push(writer)
  arrivalRound.push(round)
  arrivalAt.push(at)
}

async function join(index: number, changes: Recorded[]): Promise<Member> {
  const user = `member-${index}`
  const member = await ReplayMember.join({
    url,
    user,
    documentId: segmentId,
    answer: true,
    clock,
    onChange: change => {
      const writer = actorIndex(change.actor)
      if (writer !== index) arrived(writer, change.seq - 1, clock())
    },
  })
  if (index % CHECK_EVERY !== 0) {
    member.raw()
    return { index, member, changes }
  }
  // A real-client member: a real client (Automerge document and sync) receives and checks;
  // its messages go out from a second device of the same user, raw, as the others' do
  // (a client that must first hold a recorded change's deps would hold the group back
  // whenever the server is behind by more than the recorded lag).
  const client = member
  let seen = segmentLength(client.doc as Doc<SegmentDoc>)
  /** Messages already counted: writer × 1,000,000 + round. */
  const counted = new Set<number>()
  client.onDoc = doc => {
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
  const device = await ReplayMember.join({ url, user, documentId: segmentId, answer: true, clock })
  device.raw()
  return { index, member: device, client, changes }
}

function schedule(m: Member, k: number): void {
  const due = start + (m.index * 1000) / MEMBERS + k * 1000
  if (due >= start + durationMs || k >= m.changes.length) return
  timers.push(
    setTimeout(
      () => {
        const change = m.changes[k]!
        sendTimes[m.index - FIRST]![k] = clock()
        m.member.sendChange(change.bytes, change.hash, change.deps)
        sent++
        schedule(m, k + 1)
      },
      Math.max(0, due - clock()),
    ),
  )
}

/** Latencies by window, from every member's send times; and the real clients' check. */
function report(times: number[][]) {
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
    for (const event of readSegmentEvents(m.client.doc as Doc<SegmentDoc>, 0).events) if (event.type === 'message') held.add(event.text.split('|', 2).join('|'))
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
    if (absent.length > 0) samples.push(`member-${m.index} lacks ${absent.length}: ${absent.slice(0, 10).join(', ')}`)
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
    failures: members.flatMap(m => [m.member.failure?.message, m.client?.failure?.message].filter((text): text is string => text !== undefined)).slice(0, 5),
  }
}

async function setup(changes: [string, string, string[]][][]): Promise<void> {
  const recorded = changes.map(list => list.map(([bytes, hash, deps]) => ({ bytes: new Uint8Array(Buffer.from(bytes, 'base64')), hash, deps })))
  for (let at = 0; at < COUNT; at += BATCH) {
    members.push(...(await Promise.all(recorded.slice(at, at + BATCH).map((list, i) => join(FIRST + at + i, list)))))
  }
}

process.on('message', (order: { type: string; changes?: [string, string, string[]][][]; offset?: number; start?: number; durationMs?: number; windowMs?: number; times?: number[][] }) => {
  switch (order.type) {
    case 'setup':
      setup(order.changes!).then(
        () => process.send!({ type: 'ready' }),
        error => process.send!({ type: 'failed', message: (error as Error).stack ?? String(error) }),
      )
      break
    case 'clock':
      process.send!({ type: 'clock', at: now() })
      break
    case 'start':
      offset = order.offset!
      start = order.start!
      durationMs = order.durationMs!
      windowMs = order.windowMs!
      for (const m of members) schedule(m, 0)
      break
    case 'progress':
      process.send!({ type: 'progress', sent, delivered: arrivalAt.length })
      break
    case 'sends':
      process.send!({ type: 'sends', first: FIRST, times: sendTimes })
      break
    case 'report':
      process.send!(report(order.times!))
      break
    case 'close':
      for (const timer of timers) clearTimeout(timer)
      for (const m of members) {
        m.member.close()
        m.client?.close()
      }
      process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
process.send!({ type: 'started' })
