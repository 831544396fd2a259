import { describe, expect, it } from 'vitest'
import { BoundedMap } from '../src/bounded-map.ts'

describe('BoundedMap', () => {
  it('holds fewer than its bound, forgetting the oldest written first', () => {
    const map = new BoundedMap<string, number>(10)
    for (let i = 0; i < 100; i++) {
      map.set(`k${i}`, i)
      expect(map.size).toBeLessThan(10)
      // The newest half-bound of writes is always held.
      for (let j = Math.max(0, i - 4); j <= i; j++) expect(map.get(`k${j}`)).toBe(j)
    }
    expect(map.has('k0')).toBe(false)
    expect(map.get('k0')).toBeUndefined()
  })

  it('makes a key new again when it is written, not when it is read', () => {
    const map = new BoundedMap<string, number>(6)
    map.set('kept', 1)
    map.set('read', 2)
    for (let i = 0; i < 3; i++) {
      map.set('kept', 1)
      map.get('read')
      map.set(`filler${i}`, i)
    }
    expect(map.get('kept')).toBe(1)
    expect(map.has('read')).toBe(false)
  })

  it('keeps null and undefined values apart from absent keys, and deletes from either half', () => {
    const map = new BoundedMap<string, number | null>(4)
    map.set('absent', null)
    map.set('a', 1) // the first two move to the older half
    map.set('b', 2)
    expect(map.get('absent')).toBeNull()
    expect(map.has('absent')).toBe(true)
    expect(map.delete('absent')).toBe(true)
    expect(map.delete('b')).toBe(true)
    expect(map.delete('b')).toBe(false)
    expect(map.has('absent')).toBe(false)
    expect(map.size).toBe(1)
    map.clear()
    expect(map.size).toBe(0)
  })
})
