/**
 * Property: two replicas that receive the same events — in any interleaving, with any
 * duplication — show the same timeline. And a device's own messages keep their order.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { HybridClock, project, type ParleyEvent } from '../src/index.ts'

const AUTHORS = ['alice', 'bob', 'carol']
const DEVICES = ['d1', 'd2', 'd3']

/** A conversation: messages, then edits/deletes/reactions aimed at them (and at nothing). */
const conversation = fc
  .array(fc.record({ author: fc.constantFrom(...AUTHORS), device: fc.constantFrom(...DEVICES), at: fc.integer({ min: 0, max: 20 }), text: fc.string({ maxLength: 5 }) }), { minLength: 1, maxLength: 15 })
  .chain(messages => {
    const events: ParleyEvent[] = messages.map((m, i) => ({ id: `m${i}`, type: 'message', ...m }))
    const target = fc.oneof(fc.constantFrom(...events.map(e => e.id)), fc.constant('missing'))
    const modifier = fc.record({
      kind: fc.constantFrom('edit', 'delete', 'reaction', 'unreact'),
      target,
      author: fc.constantFrom(...AUTHORS),
      device: fc.constantFrom(...DEVICES),
      at: fc.integer({ min: 0, max: 20 }),
      text: fc.string({ maxLength: 5 }),
      emoji: fc.constantFrom('👍', '🎉'),
    })
    return fc.array(modifier, { maxLength: 25 }).map(mods => [
      ...events,
      ...mods.map((mod, i): ParleyEvent => {
        const base = { id: `x${i}`, author: mod.author, device: mod.device, at: mod.at, target: mod.target }
        if (mod.kind === 'edit') return { ...base, type: 'edit', text: mod.text }
        if (mod.kind === 'delete') return { ...base, type: 'delete' }
        return { ...base, type: 'reaction', emoji: mod.emoji, ...(mod.kind === 'unreact' ? { remove: true } : {}) }
      }),
    ])
  })

/** One replica's arrival sequence: a shuffle of the events with some of them repeated. */
const arrival = (events: ParleyEvent[]) =>
  fc.tuple(fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }), fc.array(fc.constantFrom(...events), { maxLength: 10 })).chain(([shuffled, repeats]) =>
    fc.shuffledSubarray([...shuffled, ...repeats], { minLength: shuffled.length + repeats.length, maxLength: shuffled.length + repeats.length }),
  )

describe('convergence', () => {
  it('any interleaving and duplication of the same events yields the same timeline', () => {
    fc.assert(
      fc.property(
        conversation.chain(events => fc.tuple(arrival(events), arrival(events))),
        ([first, second]) => {
          expect(project(second)).toEqual(project(first))
        },
      ),
      { seed: 42, numRuns: 500 },
    )
  })

  it('a device stamping with a HybridClock keeps its messages in sending order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 40 }), fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 40 }), (steps, others) => {
        let now = 1_000
        const clock = new HybridClock({ now: () => now })
        const mine: ParleyEvent[] = steps.map((step, i) => {
          now += step // the wall clock may stand still or go back
          return { id: `z${i}`, type: 'message', author: 'alice', device: 'dev-a', at: clock.tick(), text: `${i}` }
        })
        const theirs: ParleyEvent[] = others.map((offset, i) => ({ id: `o${i}`, type: 'message', author: 'bob', device: 'dev-b', at: 1_000 + offset, text: 'x' }))
        const timeline = project([...theirs, ...mine].reverse())
        expect(timeline.filter(item => item.author === 'alice').map(item => item.text)).toEqual(steps.map((_, i) => `${i}`))
      }),
      { seed: 7, numRuns: 300 },
    )
  })
})
