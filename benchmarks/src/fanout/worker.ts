/**
 * One member process: connects `count` members (`member-FIRST` …) to the group, then
 * reports, per message, when each of them had it (`now()` at arrival, see timing.ts) once
 * all of them have. Takes orders over IPC: `clock` (answer with the time) and `close`.
 */
import { indexOf } from './system.ts'
import { FANOUT_SYSTEMS, type FanoutKey } from './systems.ts'
import { now } from './timing.ts'

const [key, url, group, first, count] = process.argv.slice(2) as [FanoutKey, string, string, string, string]
const system = FANOUT_SYSTEMS[key]
const members = Number(count)
/** Members connecting at once. */
const BATCH = 50

const arrivals = new Map<number, number[]>()
const closers: (() => void)[] = []

function arrived(member: { last: number }, text: string): void {
  const at = now()
  const index = indexOf(text)
  if (index <= member.last) return
  member.last = index
  const times = arrivals.get(index) ?? []
  times.push(at)
  arrivals.set(index, times)
  if (times.length === members) {
    arrivals.delete(index)
    process.send!({ type: 'got', index, arrivals: times })
  }
}

process.on('message', (order: { type: string }) => {
  if (order.type === 'clock') process.send!({ type: 'clock', at: now() })
  if (order.type === 'close') {
    for (const close of closers) close()
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))

try {
  for (let start = 0; start < members; start += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, members - start) }, (_, i) => {
      const member = { last: -1 }
      return system.join(url, `member-${Number(first) + start + i}`, group, text => arrived(member, text))
    })
    closers.push(...(await Promise.all(batch)))
  }
  process.send!({ type: 'ready' })
} catch (error) {
  process.send!({ type: 'failed', message: (error as Error).stack ?? String(error) })
}
