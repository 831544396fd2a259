/**
 * refusesEventIdReuse (events/event-ids.ts): an event reusing an ID the conversation has
 * from another author is refused, the first such event named; the index is asked about
 * every event at once, so PostgreSQL answers a message of many events in one round trip;
 * an ID bound to its event's author (core eventId) is not looked up at all.
 */
import { eventId, type ParleyEvent } from '@parley/core'
import { describe, expect, it } from 'vitest'
import type { SequencedEvent } from '../src/events/event-index.ts'
import { heldAuthors, refusesEventIdReuse } from '../src/events/event-ids.ts'

const event = (id: string, author: string): ParleyEvent => ({ type: 'message', id, author, device: 'd', at: 1, text: id })

/** An index holding `numbered` (in order, numbered 1, 2, 3 …) that counts the lookups out at once. */
function countingIndex(numbered: ParleyEvent[], remoteLookups = false) {
  const counts = { pending: 0, most: 0 }
  const index = {
    remoteLookups,
    seqOf: async (_conversationId: string, id: string): Promise<number | undefined> => {
      counts.most = Math.max(counts.most, ++counts.pending)
      await new Promise(resolve => setImmediate(resolve))
      counts.pending--
      const at = numbered.findIndex(one => one.id === id)
      return at < 0 ? undefined : at + 1
    },
    page: async (_conversationId: string, cursor: { after: number }): Promise<{ events: SequencedEvent[]; next: number }> => ({
      events: numbered.slice(cursor.after).map((one, i) => ({ seq: cursor.after + i + 1, event: one })),
      next: numbered.length,
    }),
  }
  return { index, counts }
}

describe('refusesEventIdReuse', () => {
  it('asks the index about every event at once and names the first one reusing another author’s ID', async () => {
    const { index, counts } = countingIndex([event('a1', 'alice'), event('a2', 'alice')])
    const events = [event('b1', 'bob'), event('b2', 'bob'), event('a2', 'bob'), event('a1', 'bob')]
    expect(await refusesEventIdReuse(index, 'c', events)).toBe('event ID a2 is already alice’s event in this conversation')
    expect(counts.most).toBe(4)
  })

  it('lets authors write their own IDs again, and reads the end of the segment being written first', async () => {
    const { index } = countingIndex([event('a1', 'alice')])
    expect(await refusesEventIdReuse(index, 'c', [event('a1', 'alice'), event('b1', 'bob')])).toBeUndefined()
    const held = [JSON.stringify(event('h1', 'carol'))]
    expect(await refusesEventIdReuse(index, 'c', [event('h1', 'bob')], heldAuthors(held))).toBe('event ID h1 is already carol’s event in this conversation')
  })

  it('where a lookup is a round trip, looks nothing up for IDs bound to their events’ authors', async () => {
    const { index, counts } = countingIndex([event('a1', 'alice')], true)
    expect(await refusesEventIdReuse(index, 'c', [event(eventId('bob'), 'bob'), event(eventId('bob'), 'bob')], heldAuthors([JSON.stringify(event('h1', 'carol'))]))).toBeUndefined()
    expect(counts.most).toBe(0)
  })

  it('looks up, and refuses, another author’s event under an ID bound to someone else', async () => {
    const bound = eventId('alice')
    const { index, counts } = countingIndex([event(bound, 'alice')], true)
    expect(await refusesEventIdReuse(index, 'c', [event(bound, 'bob')])).toBe(`event ID ${bound} is already alice’s event in this conversation`)
    expect(counts.most).toBe(1)
  })

  it('where a lookup is a local read, looks every ID up, bound or not', async () => {
    const { index, counts } = countingIndex([])
    expect(await refusesEventIdReuse(index, 'c', [event(eventId('bob'), 'bob'), event('b2', 'bob')])).toBeUndefined()
    expect(counts.most).toBe(2)
  })
})
