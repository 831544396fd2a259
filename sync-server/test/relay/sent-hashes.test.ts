import { describe, expect, it } from 'vitest'
import { SentHashes } from '../../src/relay/sent-hashes.ts'

const hashes = (set: SentHashes, candidates: string[]) => candidates.filter(hash => set.has(hash))

describe('SentHashes', () => {
  it('extends a set without changing it', () => {
    const one = SentHashes.of(['a'])
    const two = one.with(['b', 'c'])
    expect(hashes(one, ['a', 'b', 'c'])).toEqual(['a'])
    expect(hashes(two, ['a', 'b', 'c'])).toEqual(['a', 'b', 'c'])
    expect([one.size, two.size]).toEqual([1, 3])
    expect(SentHashes.EMPTY.size).toBe(0)
    expect(SentHashes.EMPTY.has('a')).toBe(false)
  })

  it('counts a hash once', () => {
    const set = SentHashes.of(['a', 'a']).with(['a', 'b', 'b'])
    expect(set.size).toBe(2)
    expect(set.with(['a', 'b'])).toBe(set)
  })

  it('keeps versions apart when an older one is extended again', () => {
    const base = SentHashes.of(['a'])
    const left = base.with(['b'])
    const right = base.with(['c'])
    const leftAgain = left.with(['d'])
    expect(hashes(left, ['a', 'b', 'c', 'd'])).toEqual(['a', 'b'])
    expect(hashes(right, ['a', 'b', 'c', 'd'])).toEqual(['a', 'c'])
    expect(hashes(leftAgain, ['a', 'b', 'c', 'd'])).toEqual(['a', 'b', 'd'])
    expect(hashes(right.with(['b']), ['a', 'b', 'c', 'd'])).toEqual(['a', 'b', 'c'])
    expect(hashes(base, ['a', 'b', 'c', 'd'])).toEqual(['a'])
  })
})
