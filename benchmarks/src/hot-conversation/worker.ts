/**
 * One member process of the hot-conversation benchmark: connects `count` members
 * (`member-FIRST` …), each of which sends one message a second (staggered) from `start`
 * until `start + duration` and records, for every other member's message it gets, the
 * latency (arrival − send, both on the coordinator's clock, see fanout/timing.ts).
 * Orders over IPC: `clock`, `start` (offset, start, durationMs, windowMs, members),
 * `stop` (at the deadline: no send after it, so every worker's `sent` is final before any
 * delivery is counted), `progress`, `report`, `close`.
 */
import { now } from '../fanout/timing.ts'
import { joinMember, type HotKey, type HotMember } from './members.ts'
import { loopDelayP99Ms } from './loop-delay.ts'

const [key, url, group, first, count] = process.argv.slice(2) as [HotKey, string, string, string, string]
const FIRST = Number(first)
const COUNT = Number(count)
const BATCH = 50
const PAD = 'x'.repeat(100)

let offset = 0
let start = 0
let durationMs = 0
let windowMs = 0
let sent = 0
let stopped = false
let delivered = 0
const firstWindow: number[] = []
const lastWindow: number[] = []
const members: HotMember[] = []
const timers: ReturnType<typeof setTimeout>[] = []
let totalMembers = COUNT

/** The coordinator's clock. */
const clock = () => now() - offset

function arrived(lastSeq: Int32Array, text: string): void {
  const at = clock()
  const [g, k, sentAt] = text.split('|', 3).map(Number) as [number, number, number]
  if (k <= lastSeq[g]!) return
  lastSeq[g] = k
  delivered++
  const rel = sentAt - start
  const latency = Math.round((at - sentAt) * 100) / 100
  if (rel < windowMs) firstWindow.push(latency)
  else if (rel >= durationMs - windowMs) lastWindow.push(latency)
}

function schedule(index: number, member: HotMember, k: number): void {
  const due = start + (index * 1000) / totalMembers + k * 1000
  if (due >= start + durationMs || stopped) return
  timers.push(
    setTimeout(() => {
      if (stopped) return
      member.send(`${index}|${k}|${clock().toFixed(3)}|${PAD}`.slice(0, 120))
      sent++
      schedule(index, member, k + 1)
    }, Math.max(0, due - clock())),
  )
}

process.on('message', (order: { type: string; offset?: number; start?: number; durationMs?: number; windowMs?: number; members?: number }) => {
  if (order.type === 'clock') process.send!({ type: 'clock', at: now() })
  if (order.type === 'start') {
    offset = order.offset!
    start = order.start!
    durationMs = order.durationMs!
    windowMs = order.windowMs!
    totalMembers = order.members!
    members.forEach((member, i) => schedule(FIRST + i, member, 0))
  }
  if (order.type === 'stop') {
    stopped = true
    for (const timer of timers) clearTimeout(timer)
    process.send!({ type: 'stopped', sent })
  }
  if (order.type === 'progress') process.send!({ type: 'progress', sent, delivered, loopP99Ms: loopDelayP99Ms() })
  if (order.type === 'report') process.send!({ type: 'report', sent, delivered, firstWindow, lastWindow })
  if (order.type === 'close') {
    for (const timer of timers) clearTimeout(timer)
    for (const member of members) member.close()
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))

try {
  for (let at = 0; at < COUNT; at += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, COUNT - at) }, (_, i) => {
      const lastSeq = new Int32Array(4096).fill(-1)
      return joinMember(key, url, `member-${FIRST + at + i}`, group, text => arrived(lastSeq, text))
    })
    members.push(...(await Promise.all(batch)))
  }
  process.send!({ type: 'ready' })
} catch (error) {
  process.send!({ type: 'failed', message: (error as Error).stack ?? String(error) })
}
