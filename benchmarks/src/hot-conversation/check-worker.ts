/**
 * The checking process of the hot-conversation benchmark for Parley, replaying
 * (hot-conversation/replay.ts): for members 0, CHECK_EVERY, 2·CHECK_EVERY …, a real client
 * (a device of that member's own: Automerge documents and sync for the head and every
 * segment it lists, opened as the head lists them) that receives the whole run and, after
 * it, reports every other member's message missing from its documents. It sends nothing
 * and measures no latency: that is the replaying member processes' work.
 *
 * A process of its own: a real client's Automerge work and memory grow with every segment
 * it holds, and from about minute four its collections took the CPU of the member process
 * it shared, whose members then read and sent late (in one run, the process with a real
 * client went from 0.26 to 0.42 cores and its event-loop p99 from 18 to 31 ms; the one
 * without stayed at 0.15 cores and 16 ms), which showed as a latency drift of the server.
 *
 * Orders over IPC as replay-worker.ts's: `setup`, `clock`, `start`, `stop`, `progress`,
 * `sends`, `report`, `close`.
 */
import type { Doc } from '@automerge/automerge'
import { readHead, readSegmentEvents, type HeadDoc, type SegmentDoc } from '@parley/core'
import { now } from '../fanout/timing.ts'
import { ReplayConnection } from '../lib/replay-connection.ts'
import type { ReplayDocument } from '../lib/replay-member.ts'
import { loopDelayP99Ms } from './loop-delay.ts'
import { CHECK_EVERY } from './replay.ts'

const [url, headId, membersArg] = process.argv.slice(2) as [string, string, string]
const MEMBERS = Number(membersArg)

interface Checker {
  index: number
  connection: ReplayConnection
  /** Its segments, by ID, as the head lists them. */
  segments: Map<string, Promise<ReplayDocument>>
  failures: string[]
}

const checkers: Checker[] = []

async function join(index: number): Promise<Checker> {
  const connection = await ReplayConnection.connect(url, `member-${index}`, now)
  const checker: Checker = { index, connection, segments: new Map(), failures: [] }
  const head = await connection.open(headId)
  const follow = (doc: Doc<unknown>) => {
    for (const id of readHead(doc as Doc<HeadDoc>).segments) {
      if (checker.segments.has(id)) continue
      const opening = connection.open(id)
      opening.catch(error => checker.failures.push(`member-${index}'s client: opening segment ${id}: ${(error as Error).message}`))
      checker.segments.set(id, opening)
    }
  }
  head.onDoc = follow
  follow(head.doc)
  await Promise.all(checker.segments.values())
  return checker
}

/** Every other member's message sent (by `times`: member, then round), looked up in each checker's documents. */
async function report(times: number[][]) {
  let checked = 0
  let missing = 0
  const samples: string[] = []
  for (const checker of checkers) {
    const held = new Set<string>()
    for (const opening of checker.segments.values()) {
      const doc = await opening.catch(() => undefined)
      if (!doc) continue
      for (const event of readSegmentEvents(doc.doc as Doc<SegmentDoc>, 0).events) if (event.type === 'message') held.add(event.text.split('|', 2).join('|'))
    }
    const absent: string[] = []
    times.forEach((list, writer) => {
      if (writer === checker.index) return
      list.forEach((t, round) => {
        if (t === null) return
        checked++
        if (!held.has(`${writer}|${round}`)) absent.push(`${writer}|${round}`)
      })
    })
    missing += absent.length
    if (absent.length > 0) samples.push(`member-${checker.index} lacks ${absent.length} (its client holds ${checker.segments.size} segments): ${absent.slice(0, 10).join(', ')}`)
  }
  const failures = checkers.flatMap(checker => [...checker.failures, checker.connection.failure?.message].filter((text): text is string => text !== undefined))
  return { type: 'report', sent: 0, delivered: 0, firstWindow: [], lastWindow: [], checked, checkMissing: missing, checkMissingSample: samples.slice(0, 5), failures: failures.slice(0, 5) }
}

process.on('message', (order: { type: string; times?: number[][] }) => {
  const reply = (work: Promise<object>) => work.then(message => process.send!(message), error => process.send!({ type: 'failed', message: (error as Error).stack ?? String(error) }))
  switch (order.type) {
    case 'setup': {
      const indices = Array.from({ length: Math.ceil(MEMBERS / CHECK_EVERY) }, (_, i) => i * CHECK_EVERY)
      void reply(Promise.all(indices.map(join)).then(joined => (checkers.push(...joined), { type: 'ready' })))
      break
    }
    case 'clock':
      process.send!({ type: 'clock', at: now() })
      break
    case 'stop':
      process.send!({ type: 'stopped', sent: 0 })
      break
    case 'progress':
      process.send!({ type: 'progress', sent: 0, delivered: 0, segments: 0, received: 0, held: 0, loopP99Ms: loopDelayP99Ms() })
      break
    case 'sends':
      process.send!({ type: 'sends', first: 0, times: [] })
      break
    case 'report':
      void reply(report(order.times!))
      break
    case 'close':
      for (const checker of checkers) checker.connection.close()
      process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
process.send!({ type: 'started' })
