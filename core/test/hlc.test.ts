import { describe, expect, it } from 'vitest'
import { HybridClock } from '../src/index.ts'

describe('HybridClock', () => {
  it('follows the wall clock while it moves forward', () => {
    let now = 1000
    const clock = new HybridClock({ now: () => now })
    expect(clock.tick()).toBe(1000)
    now = 1500
    expect(clock.tick()).toBe(1500)
  })

  it('strictly increases within one millisecond and when the wall clock steps back', () => {
    let now = 1000
    const clock = new HybridClock({ now: () => now })
    const stamps = [clock.tick(), clock.tick(), clock.tick()]
    now = 900
    stamps.push(clock.tick(), clock.tick())
    expect(stamps).toEqual([1000, 1001, 1002, 1003, 1004])
  })

  it('moves past timestamps observed from other devices', () => {
    const clock = new HybridClock({ now: () => 1000 })
    clock.observe(5000)
    expect(clock.tick()).toBe(5001)
  })

  it('ignores a remote timestamp further ahead than maxDrift', () => {
    const clock = new HybridClock({ now: () => 1000, maxDriftMs: 100 })
    clock.observe(1100)
    clock.observe(10_000)
    clock.observe(Number.NaN)
    expect(clock.tick()).toBe(1101)
  })

  it('resumes after the last persisted value', () => {
    expect(new HybridClock({ now: () => 10, last: 500 }).tick()).toBe(501)
  })
})
