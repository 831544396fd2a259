/**
 * The client's timeline work for one new message, in this process, with `loaded` events
 * already there: folding every loaded event again (`project`, what the SDK did on every
 * change before core's Timeline) against adding the one event to a Timeline and taking
 * the new array. CPU per message from process.cpuUsage over `rounds` messages.
 */
import { HybridClock, project, randomId, Timeline, type ParleyEvent } from '@parley/core'

export interface ProjectionCost {
  loaded: number
  projectAllMs: number
  timelineMs: number
}

/** Two writers as a client stores them (random IDs, hybrid clock stamps), ~100-byte texts; every tenth event a reaction to the message before. */
function writer(): (i: number, target: string) => ParleyEvent {
  const clock = new HybridClock({ last: 0 })
  const devices = [randomId(), randomId()]
  return (i, target) => {
    const base = { id: randomId(), author: i % 2 === 0 ? 'alice' : 'bob', device: devices[i % 2]!, at: clock.tick() }
    if (i % 10 === 9) return { ...base, type: 'reaction', target, emoji: '👍' }
    return { ...base, type: 'message', text: `${i}|${'x'.repeat(100)}`.slice(0, 100) }
  }
}

function cpuMs(): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

export function projectionCost(loaded: number, rounds: number): ProjectionCost {
  const next = writer()
  const events: ParleyEvent[] = []
  const timeline = new Timeline()
  const add = (): ParleyEvent => {
    const event = next(events.length, events.at(-1)?.id ?? 'none')
    events.push(event)
    return event
  }
  for (let i = 0; i < loaded; i++) timeline.add(add())
  let sink = 0
  // Compiled and warm before either is measured.
  for (let i = 0; i < 20; i++) sink += project(events).length + new Timeline().items().length

  let start = cpuMs()
  for (let i = 0; i < rounds; i++) {
    add()
    sink += project(events).length
  }
  const projectAllMs = (cpuMs() - start) / rounds

  start = cpuMs()
  for (let i = 0; i < rounds; i++) {
    timeline.add(add())
    sink += timeline.items().length
  }
  const timelineMs = (cpuMs() - start) / rounds
  if (sink === 0) throw new Error('nothing projected')
  return { loaded, projectAllMs, timelineMs }
}
