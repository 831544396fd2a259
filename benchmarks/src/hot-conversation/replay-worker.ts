/**
 * One member process of the hot-conversation benchmark for Parley, replaying
 * (hot-conversation/replay.ts): members `first` … `first + count − 1`, each with the
 * changes recorded for it. The schedule is worker.ts's (member i's round k due at
 * start + i × 1000 / members + k × 1000 ms); a due change goes out in the sync message a
 * client holding it and what it received would send (lib/replay-member.ts sendChange).
 * Arrivals are read from change headers (writer from the actor, round from seq − 1); the
 * members CHECK_EVERY apart stay real clients: they send by applying their recorded change
 * to their document and letting Automerge's sync send it, read arrivals from their
 * document, and after the run report any message missing from it.
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
  member: ReplayMember
  changes: Recorded[]
  check: boolean
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
  const check = index % CHECK_EVERY === 0
  const user = `member-${index}`
  let seen = 0
  /** A real client's messages already counted: writer × rounds + round. */
  const counted = new Set<number>()
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
    onDoc: check
      ? doc => {
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
      : undefined,
  })
  if (check) seen = segmentLength(member.doc as Doc<SegmentDoc>)
  else member.raw()
  return { index, member, changes, check }
}

function schedule(m: Member, k: number): void {
  const due = start + (m.index * 1000) / MEMBERS + k * 1000
  if (due >= start + durationMs || k >= m.changes.length) return
  timers.push(
    setTimeout(
      () => {
        const change = m.changes[k]!
        sendTimes[m.index - FIRST]![k] = clock()
        if (m.check) m.member.inject(change.bytes)
        else m.member.sendChange(change.bytes, change.hash, change.deps)
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
    if (t === undefined) continue
    delivered++
    const rel = t - start
    const latency = Math.round((arrivalAt[i]! - t) * 100) / 100
    if (rel < windowMs) firstWindow.push(latency)
    else if (rel >= durationMs - windowMs) lastWindow.push(latency)
  }
  let checked = 0
  let missing = 0
  const samples: string[] = []
  for (const m of members.filter(member => member.check)) {
    const held = new Set<string>()
    for (const event of readSegmentEvents(m.member.doc as Doc<SegmentDoc>, 0).events) if (event.type === 'message') held.add(event.text.split('|', 2).join('|'))
    const absent: string[] = []
    times.forEach((list, writer) => {
      if (writer === m.index) return
      list.forEach((_, round) => {
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
    failures: members.flatMap(m => (m.member.failure ? [m.member.failure.message] : [])).slice(0, 5),
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
      for (const m of members) m.member.close()
      process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
process.send!({ type: 'started' })
