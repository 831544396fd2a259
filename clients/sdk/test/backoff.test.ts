import { describe, expect, it } from 'vitest'
import { backoffDelay } from '../src/network/backoff.ts'

describe('backoffDelay (full jitter)', () => {
  const options = { minMs: 250, maxMs: 30_000 }

  it('never waits less than the minimum', () => {
    for (let attempt = 0; attempt < 40; attempt++) expect(backoffDelay(attempt, { ...options, random: () => 0 })).toBe(250)
  })

  it('doubles the ceiling each attempt until the maximum', () => {
    const top = (attempt: number) => backoffDelay(attempt, { ...options, random: () => 0.999999 })
    expect(top(0)).toBe(250 + 249)
    expect(top(1)).toBe(250 + 499)
    expect(top(3)).toBe(250 + 1999)
    expect(top(20)).toBe(30_000)
  })

  it('spreads retries across the whole window', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(6, options)))
    expect(delays.size).toBeGreaterThan(10)
    for (const delay of delays) expect(delay).toBeGreaterThanOrEqual(250)
  })
})
