import { describe, expect, it } from 'vitest'
import { TokenBucket, UserRates } from '../src/network/rate-limit.ts'

describe('TokenBucket', () => {
  it('gives a burst at once, then refills at the rate', () => {
    const bucket = new TokenBucket(10, 3, 0)
    expect([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, true, false])
    expect(bucket.take(100)).toBe(true)
    expect(bucket.take(100)).toBe(false)
    expect(bucket.tokens(10_000)).toBe(3)
  })
})

describe('UserRates', () => {
  it('shares one bucket between all of a user’s takes, apart from other users', () => {
    const rates = new UserRates(1, 2)
    expect([rates.take('mallory', 0), rates.take('mallory', 0), rates.take('mallory', 0)]).toEqual([true, true, false])
    expect(rates.take('alice', 0)).toBe(true)
  })

  it('asks a user who ran out to wait until the bucket is half full again', () => {
    const rates = new UserRates(10, 20)
    for (let i = 0; i < 20; i++) rates.take('mallory', 0)
    expect(rates.retryAfterMs('mallory', 0)).toBe(0)
    expect(rates.take('mallory', 0)).toBe(false)
    expect(rates.retryAfterMs('mallory', 0)).toBe(1000)
    expect(rates.retryAfterMs('mallory', 600)).toBe(400)
    expect(rates.retryAfterMs('mallory', 1000)).toBe(0)
    expect(rates.retryAfterMs('alice', 0)).toBe(0)
  })

  it('forgets users whose bucket has refilled, and only them', () => {
    const rates = new UserRates(10, 20)
    rates.take('alice', 0)
    for (let i = 0; i < 20; i++) rates.take('mallory', 1000)
    rates.prune(1050)
    expect(rates.size).toBe(1)
    rates.prune(3000)
    expect(rates.size).toBe(0)
  })
})
