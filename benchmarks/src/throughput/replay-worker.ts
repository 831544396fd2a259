/**
 * One load-generator process of the throughput benchmark for Parley: a replaying
 * generator (README "throughput"). The same orders and the same open-loop schedule as
 * worker.ts, but no Automerge work while timed:
 *
 * - setup: each sender joins the segment of its conversation (lib/replay-member.ts), then
 *   its messages are recorded (lib/replay-record.ts recordSender: real Automerge changes
 *   and the sync messages a client sends for them), as many as `plan` says; receivers join
 *   and go raw, but those of every CHECK_EVERY-th conversation stay real clients
 *   (Automerge document and sync) and check, after each step, that every message sent
 *   to them is in their document.
 * - step: a due message is its sender's next recorded sync message, sent as is; its send
 *   time is kept by conversation and ordinal (the change's seq − 1: one change per message).
 *   A receiver timestamps each change as it arrives and answers as Automerge would.
 * - sends / report: the coordinator gathers every worker's send times (`sends`) and hands
 *   each worker those of the conversations it receives (`report`), which it matches with
 *   its arrivals: latency = arrival − send, both on the coordinator's clock.
 */
import type { Doc } from '@automerge/automerge'
import { readSegmentEvents, segmentLength, type SegmentDoc } from '@parley/core'
import { now } from '../fanout/timing.ts'
import { ReplayMember } from '../lib/replay-member.ts'
import { recordSender } from '../lib/replay-record.ts'
import { actorOf } from '../lib/replay-wire.ts'
import { CHECK_EVERY, receiverOf, senderOf } from './systems.ts'

const [url] = process.argv.slice(2) as [string]
/** Members joining at once. */
const BATCH = 50
const PAD = 'x'.repeat(100)
const SLICE = 100

interface Setup {
  type: 'setup'
  senders: [number, string][]
  receivers: [number, string][]
  /** Messages to record per conversation (index: conversation). */
  plan: number[]
  actorPrefix: string
}
interface Step {
  type: 'step'
  step: number
  start: number
  durationMs: number
  rate: number
  count?: number
  conversations: number
  offset: number
}
export interface Sends {
  conversation: number[]
  ordinal: number[]
  at: number[]
}

interface Sender {
  member: ReplayMember
  frames: Uint8Array[][]
  cursor: number
}
interface Checker {
  member: ReplayMember
  conversation: number
}

const senders = new Map<number, Sender>()
const members: ReplayMember[] = []
const checkers: Checker[] = []
let step: Step | undefined
let generation = 0
let next = 0
let sent = 0
let sends: Sends = { conversation: [], ordinal: [], at: [] }
let lag: number[] = []
/** Arrivals since the step's order: conversation × 2^20 + ordinal → arrival time. */
let arrivals = new Map<number, number>()
const KEY = 2 ** 20

const clock = () => now() - (step?.offset ?? 0)

const textOf = (conversation: number, ordinal: number) => `${conversation}|${ordinal}|${PAD}`.slice(0, 100)

function arrived(conversation: number, ordinal: number, at: number): void {
  const key = conversation * KEY + ordinal
  if (!arrivals.has(key)) arrivals.set(key, at)
}

function tick(current: number): void {
  if (current !== generation) return
  const { start, durationMs, rate, conversations, count } = step!
  const total = count ?? Math.floor((rate * durationMs) / 1000)
  const t = clock()
  if (count === undefined && t >= start + durationMs) next = total
  for (let slice = 0; next < total && slice < SLICE; next++) {
    const due = start + (next * 1000) / rate
    if (due > t) break
    const conversation = next % conversations
    const sender = senders.get(conversation)
    if (!sender) continue
    const frames = sender.frames[sender.cursor]
    if (!frames) throw new Error(`conversation ${conversation}: no recorded message left (${sender.cursor} recorded)`)
    const at = clock()
    lag.push(at - due)
    for (const data of frames) sender.member.sendData(data)
    sender.frames[sender.cursor] = []
    sends.conversation.push(conversation)
    sends.ordinal.push(sender.cursor)
    sends.at.push(at)
    sender.cursor++
    sent++
    slice++
  }
  if (next >= total) return
  if (start + (next * 1000) / rate <= t) setImmediate(tick, current)
  else setTimeout(tick, 1, current)
}

/** A real client's document: the ordinals of the messages it holds. */
function ordinalsIn(doc: Doc<unknown>): Set<number> {
  const held = new Set<number>()
  for (const event of readSegmentEvents(doc as Doc<SegmentDoc>, 0).events) if (event.type === 'message') held.add(Number(event.text.split('|', 2)[1]))
  return held
}

async function join(conversation: number, segment: string, user: string, role: 'sender' | 'receiver' | 'checker'): Promise<void> {
  const check = role === 'checker'
  let seen = 0
  const member = await ReplayMember.join({
    url,
    user,
    documentId: segment,
    answer: role !== 'sender',
    clock,
    onChange: (change, at) => arrived(conversation, change.seq - 1, at),
  })
  members.push(member)
  if (role === 'sender') senders.set(conversation, { member, frames: [], cursor: 0 })
  if (check) {
    seen = segmentLength(member.doc as Doc<SegmentDoc>)
    member.onDoc = doc => {
      const at = clock()
      const length = segmentLength(doc as Doc<SegmentDoc>)
      if (length === seen) return
      const { events } = readSegmentEvents(doc as Doc<SegmentDoc>, seen)
      seen = length
      for (const event of events) if (event.type === 'message') arrived(conversation, Number(event.text.split('|', 2)[1]), at)
    }
    checkers.push({ member, conversation })
  } else if (role === 'receiver') member.raw()
}

/** Records each sender's messages once every member has joined (between senders the event loop turns: sockets answer pings). */
async function record(plan: number[], actorPrefix: string): Promise<void> {
  const t0 = performance.now()
  let messages = 0
  for (const [conversation, sender] of senders) {
    const texts = Array.from({ length: plan[conversation]! }, (_, k) => textOf(conversation, k))
    sender.frames = recordSender(sender.member.doc, actorOf(actorPrefix, conversation), senderOf(conversation), texts)
    sender.member.raw()
    messages += texts.length
    await new Promise(resolve => setImmediate(resolve))
  }
  process.send!({ type: 'recorded', messages, seconds: (performance.now() - t0) / 1000 })
}

async function setup({ senders: sending, receivers, plan, actorPrefix }: Setup): Promise<void> {
  const all = [
    ...sending.map(([c, segment]) => ({ c, segment, user: senderOf(c), role: 'sender' as const })),
    ...receivers.map(([c, segment]) => ({ c, segment, user: receiverOf(c), role: c % CHECK_EVERY === 0 ? ('checker' as const) : ('receiver' as const) })),
  ]
  for (let at = 0; at < all.length; at += BATCH) {
    await Promise.all(all.slice(at, at + BATCH).map(({ c, segment, user, role }) => join(c, segment, user, role)))
  }
  await record(plan, actorPrefix)
}

/** Matches the step's sends to this worker's receivers with their arrivals. */
function report(all: Sends) {
  const mine = receiving
  const sentAt: number[] = []
  const latency: number[] = []
  let expected = 0
  const missingByChecker = new Map<number, number[]>()
  for (let i = 0; i < all.at.length; i++) {
    const c = all.conversation[i]!
    if (!mine.has(c)) continue
    expected++
    const t = all.at[i]!
    const arrival = arrivals.get(c * KEY + all.ordinal[i]!)
    if (arrival === undefined) continue
    sentAt.push(Math.round((t - step!.start) * 100) / 100)
    latency.push(Math.round((arrival - t) * 100) / 100)
  }
  // The real clients: is every message sent to them in their document?
  let checked = 0
  let missing = 0
  const held = new Map(checkers.map(checker => [checker.conversation, ordinalsIn(checker.member.doc)]))
  for (let i = 0; i < all.at.length; i++) {
    const ordinals = held.get(all.conversation[i]!)
    if (!ordinals) continue
    checked++
    if (!ordinals.has(all.ordinal[i]!)) {
      missing++
      const list = missingByChecker.get(all.conversation[i]!) ?? []
      list.push(all.ordinal[i]!)
      missingByChecker.set(all.conversation[i]!, list)
    }
  }
  const failures = members.flatMap(member => (member.failure ? [member.failure.message] : []))
  return {
    type: 'report',
    sent: expected,
    delivered: latency.length,
    sentAt,
    latency,
    lag,
    checked,
    checkMissing: missing,
    checkMissingSample: [...missingByChecker].slice(0, 5).map(([c, list]) => `conversation ${c}: ${list.slice(0, 10).join(', ')}`),
    needs: members.reduce((a, member) => a + member.needs, 0),
    failures: failures.slice(0, 5),
  }
}

const receiving = new Set<number>()

process.on('message', (order: Setup | Step | { type: 'clock' | 'progress' | 'sends' | 'close' } | { type: 'report'; sends: Sends }) => {
  switch (order.type) {
    case 'setup':
      for (const [c] of order.receivers) receiving.add(c)
      setup(order).then(
        () => process.send!({ type: 'ready' }),
        error => process.send!({ type: 'failed', message: (error as Error).stack ?? String(error) }),
      )
      break
    case 'clock':
      process.send!({ type: 'clock', at: now() })
      break
    case 'step':
      step = order
      next = sent = 0
      sends = { conversation: [], ordinal: [], at: [] }
      arrivals = new Map()
      lag = []
      setTimeout(tick, Math.max(0, order.start - clock()), ++generation)
      break
    case 'progress':
      process.send!({ type: 'progress', sent, delivered: arrivals.size })
      break
    case 'sends':
      process.send!({ type: 'sends', sends })
      break
    case 'report':
      process.send!(report(order.sends))
      break
    case 'close':
      generation++
      for (const member of members) member.close()
      process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
process.send!({ type: 'started' })
