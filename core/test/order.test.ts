import { describe, expect, it } from 'vitest'
import { compareEvents, sortUnique } from '../src/index.ts'

describe('the total order', () => {
  it('sorts by at, then device, then id', () => {
    const events = [
      { at: 2, device: 'a', id: 'x' },
      { at: 1, device: 'b', id: 'a' },
      { at: 1, device: 'a', id: 'z' },
      { at: 1, device: 'a', id: 'y' },
    ]
    expect([...events].sort(compareEvents)).toEqual([events[3], events[2], events[1], events[0]])
  })

  it('compares by code unit, not locale', () => {
    expect(compareEvents({ at: 1, device: 'B', id: 'x' }, { at: 1, device: 'a', id: 'x' })).toBeLessThan(0)
  })

  it('drops duplicates by id', () => {
    const event = { at: 1, device: 'a', id: 'same' }
    expect(sortUnique([event, { ...event }, { at: 0, device: 'a', id: 'other' }]).map(e => e.id)).toEqual(['other', 'same'])
  })
})
