/**
 * Property: two replicas that receive the same events — in any interleaving, with any
 * duplication — show the same timeline. And a device's own messages keep their order.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { HybridClock, project, type ParleyEvent } from '../src/index.ts'
import { arrival, conversation } from './arbitraries.ts'

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
