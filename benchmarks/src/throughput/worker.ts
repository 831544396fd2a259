/**
 * One load-generator process of the throughput benchmark. Holds the senders and the
 * receivers it is given (hot-conversation members), and per step sends open loop: the
 * run's aggregate message n is due at `start + n / rate`, in conversation n mod C, so every
 * conversation gets rate / C messages a second, evenly spaced; this process sends the
 * ones whose conversation's sender it holds, late ones at once (the lag is recorded). Each
 * text carries its send time on the coordinator's clock (fanout/timing.ts), so a receiver
 * in the other process measures arrival − send.
 *
 * Orders over IPC: `setup`, `clock`, `step`, `progress`, `report`, `close`.
 */
import { now } from '../fanout/timing.ts'
import { joinMember, type HotMember } from '../hot-conversation/members.ts'
import { receiverOf, senderOf, THROUGHPUT_SYSTEMS, type ThroughputKey } from './systems.ts'

const [key, url] = process.argv.slice(2) as [ThroughputKey, string]
const system = THROUGHPUT_SYSTEMS[key]
/** Members connecting at once. */
const BATCH = 50
const PAD = 'x'.repeat(100)
/** Sends per turn of the event loop at most. */
const SLICE = 100

interface Setup {
  type: 'setup'
  /** Conversation index and what its members join. */
  senders: [number, string][]
  receivers: [number, string][]
}
interface Step {
  type: 'step'
  step: number
  /** Coordinator clock. */
  start: number
  durationMs: number
  rate: number
  /** Messages in the step; default rate × duration. */
  count?: number
  conversations: number
  /** This process's clock minus the coordinator's. */
  offset: number
}

const senders = new Map<number, HotMember>()
const members: HotMember[] = []
let step: Step | undefined
/** Bumped by every step order, so the previous step's ticks stop. */
let generation = 0
let next = 0
let sent = 0
let delivered = 0
/** Per conversation: the last message number received this step. */
let lastSeen = new Int32Array(0)
/** Per delivery: send time (ms after the step's start), latency (ms); per send: lag behind schedule (ms). */
let sentAt: number[] = []
let latency: number[] = []
let lag: number[] = []

const clock = () => now() - (step?.offset ?? 0)

function received(text: string): void {
  const at = clock()
  const [s, c, k, t] = text.split('|', 4).map(Number) as [number, number, number, number]
  if (!step || s !== step.step || k <= lastSeen[c]!) return
  lastSeen[c] = k
  delivered++
  sentAt.push(Math.round((t - step.start) * 100) / 100)
  latency.push(Math.round((at - t) * 100) / 100)
}

function tick(current: number): void {
  if (current !== generation) return
  const { step: s, start, durationMs, rate, conversations, count } = step!
  const total = count ?? Math.floor((rate * durationMs) / 1000)
  const t = clock()
  // Sending stops at the step's end, whatever is still due: a generator that fell behind
  // shows as sent/s below the offered rate instead of overrunning into the drain. (A
  // step of a given count, the warm-up, sends them all.)
  if (count === undefined && t >= start + durationMs) next = total
  // At most a slice per turn, so arrivals and orders are not starved behind a burst of overdue sends.
  for (let slice = 0; next < total && slice < SLICE; next++) {
    const due = start + (next * 1000) / rate
    if (due > t) break
    const conversation = next % conversations
    const sender = senders.get(conversation)
    if (!sender) continue
    const at = clock()
    lag.push(at - due)
    sender.send(`${s}|${conversation}|${Math.floor(next / conversations)}|${at.toFixed(3)}|${PAD}`.slice(0, 100))
    sent++
    slice++
  }
  if (next >= total) return
  if (start + (next * 1000) / rate <= t) setImmediate(tick, current)
  else setTimeout(tick, 1, current)
}

async function setup({ senders: sending, receivers }: Setup): Promise<void> {
  const all = [...sending.map(([c, group]) => ({ c, group, user: senderOf(c), sends: true })), ...receivers.map(([c, group]) => ({ c, group, user: receiverOf(c), sends: false }))]
  for (let at = 0; at < all.length; at += BATCH) {
    const batch = all.slice(at, at + BATCH).map(async ({ c, group, user, sends }) => {
      const member = await joinMember(system.member, system.memberUrl?.(url, group) ?? url, user, group, received)
      members.push(member)
      if (sends) senders.set(c, member)
    })
    await Promise.all(batch)
  }
}

process.on('message', (order: Setup | Step | { type: 'clock' | 'progress' | 'report' | 'close' }) => {
  switch (order.type) {
    case 'setup':
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
      next = sent = delivered = 0
      lastSeen = new Int32Array(order.conversations).fill(-1)
      sentAt = []
      latency = []
      lag = []
      setTimeout(tick, Math.max(0, order.start - clock()), ++generation)
      break
    case 'progress':
      process.send!({ type: 'progress', sent, delivered })
      break
    case 'report':
      process.send!({ type: 'report', sent, delivered, sentAt, latency, lag })
      break
    case 'close':
      generation++
      for (const member of members) member.close()
      process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
// A clean exit on SIGTERM, so --cpu-prof (BENCH_PROFILE_DIR) gets written.
process.on('SIGTERM', () => process.exit(0))
process.send!({ type: 'started' })
