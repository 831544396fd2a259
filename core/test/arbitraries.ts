/** fast-check arbitraries for conversations: the events, and the order one replica receives them in. */
import fc from 'fast-check'
import type { ParleyEvent } from '../src/index.ts'

const AUTHORS = ['alice', 'bob', 'carol']
const DEVICES = ['d1', 'd2', 'd3']

/** A conversation: messages, then edits/deletes/reactions aimed at them (and at nothing). */
export const conversation = fc
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
export const arrival = (events: ParleyEvent[]) =>
  fc.tuple(fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }), fc.array(fc.constantFrom(...events), { maxLength: 10 })).chain(([shuffled, repeats]) =>
    fc.shuffledSubarray([...shuffled, ...repeats], { minLength: shuffled.length + repeats.length, maxLength: shuffled.length + repeats.length }),
  )
