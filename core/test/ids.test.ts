/**
 * Event IDs bound to their authors (ids.ts eventId): the server skips the event-ID lookup
 * for an event whose ID isEventIdOf its author, so no other author's ID may pass.
 */
import { describe, expect, it } from 'vitest'
import { eventId, isEventIdOf, randomId } from '../src/ids.ts'

describe('eventId', () => {
  it('is bound to its author and to no one else', () => {
    const id = eventId('alice')
    expect(id).toMatch(/^[A-Za-z0-9_-]{32}$/)
    expect(isEventIdOf(id, 'alice')).toBe(true)
    expect(isEventIdOf(id, 'bob')).toBe(false)
    expect(isEventIdOf(id, 'alice ')).toBe(false)
  })

  it('is new each time', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => eventId('alice')))
    expect(ids.size).toBe(1000)
  })

  it('refuses a tag moved to another random part, an edited tag, and IDs of other shapes', () => {
    const [one, two] = [eventId('alice'), eventId('alice')]
    expect(isEventIdOf(one.slice(0, 16) + two.slice(16), 'alice')).toBe(false)
    const last = one.at(-1) === 'A' ? 'B' : 'A'
    expect(isEventIdOf(one.slice(0, 31) + last, 'alice')).toBe(false)
    expect(isEventIdOf(randomId(), 'alice')).toBe(false)
    expect(isEventIdOf(randomId() + randomId(), 'alice')).toBe(false)
    expect(isEventIdOf(`${one}x`, 'alice')).toBe(false)
  })
})
