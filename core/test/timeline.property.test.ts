/**
 * Property: the timeline kept per event (timeline.ts) is, after every event, what
 * `project` folds from all events so far, whatever the arrival order and duplicates;
 * its unread count is `unreadCount`'s; an array it handed out never changes, and an item
 * no event touched stays the same object.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compareEvents, project, Timeline, unreadCount, type ParleyEvent, type ReadEvent, type TimelineItem } from '../src/index.ts'
import { arrival, conversation } from './arbitraries.ts'

/** Events that are not in the timeline at all, mixed in. */
const noise: ParleyEvent[] = [
  { id: 'n1', type: 'title-changed', author: 'alice', device: 'd1', at: 3, title: 'plans' },
  { id: 'n2', type: 'member-added', author: 'alice', device: 'd1', at: 4, member: 'dave', role: 'member' },
  { id: 'n3', type: 'read', author: 'bob', device: 'd2', at: 5, target: 'm0' },
]

/** The first arrival of each ID, in arrival order: what the timeline is given credit for. */
function firstArrivals(events: ParleyEvent[]): ParleyEvent[] {
  const seen = new Set<string>()
  return events.filter(event => !seen.has(event.id) && seen.add(event.id))
}

describe('Timeline', () => {
  it('equals project over the events so far after every event, in any order, with duplicates', () => {
    fc.assert(
      fc.property(
        conversation.chain(events => arrival([...events, ...noise])),
        arrived => {
          const timeline = new Timeline()
          const handedOut: { array: TimelineItem[]; copy: TimelineItem[] }[] = []
          for (let i = 0; i < arrived.length; i++) {
            const before = timeline.items()
            const changed = timeline.add(arrived[i]!)
            const after = timeline.items()
            const expected = project(firstArrivals(arrived.slice(0, i + 1)))
            expect(after).toEqual(expected)
            // Same key order as project, so views comparing JSON see no difference.
            expect(JSON.stringify(after)).toBe(JSON.stringify(expected))
            expect(changed).toBe(after !== before)
            // Only the item an event names (or the message itself) is a new object.
            const fresh = after.filter(item => !before.includes(item))
            expect(fresh.length).toBeLessThanOrEqual(1)
            handedOut.push({ array: after, copy: [...after] })
          }
          for (const { array, copy } of handedOut) expect(array).toEqual(copy)
          for (const { array, copy } of handedOut) array.forEach((item, i) => expect(item).toBe(copy[i]))
        },
      ),
      { seed: 15, numRuns: 300 },
    )
  })

  it('counts unread messages as unreadCount does, for any reader and cursor', () => {
    const cursorOf = (events: ParleyEvent[]) =>
      fc.option(
        fc.record({ target: fc.constantFrom(...events.map(event => event.id), 'missing'), at: fc.integer({ min: 0, max: 21 }) }),
        { nil: undefined },
      )
    fc.assert(
      fc.property(
        conversation.chain(events => fc.tuple(arrival(events), cursorOf(events), fc.constantFrom('alice', 'bob', 'carol'))),
        ([arrived, cursor, me]) => {
          const timeline = new Timeline()
          for (const event of arrived) timeline.add(event)
          const receipt: ReadEvent | undefined = cursor && { id: 'r', type: 'read', author: me, device: 'd9', ...cursor }
          expect(timeline.unreadCount(me, receipt)).toBe(unreadCount(timeline.items(), me, receipt))
        },
      ),
      { seed: 16, numRuns: 500 },
    )
  })

  it("keeps each reader's newest read receipt in the total order, whatever the arrival order", () => {
    const receipts = fc.array(
      fc.record({ author: fc.constantFrom('alice', 'bob', 'carol'), device: fc.constantFrom('d1', 'd2'), at: fc.integer({ min: 0, max: 20 }), target: fc.constantFrom('m0', 'm1', 'missing') }),
      { maxLength: 12 },
    )
    fc.assert(
      fc.property(
        fc.tuple(conversation, receipts).chain(([events, reads]) => arrival([...events, ...reads.map((read, i): ReadEvent => ({ id: `r${i}`, type: 'read', ...read }))])),
        arrived => {
          const timeline = new Timeline()
          for (const event of arrived) expect(timeline.add(event) && event.type === 'read').toBe(false)
          const expected = new Map<string, ReadEvent>()
          for (const event of [...firstArrivals(arrived)].sort(compareEvents)) if (event.type === 'read') expected.set(event.author, event)
          expect(new Map(timeline.receipts())).toEqual(expected)
        },
      ),
      { seed: 17, numRuns: 300 },
    )
  })
})
