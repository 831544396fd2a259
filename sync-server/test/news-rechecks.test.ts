/**
 * Reading numbers back after news (events/news-rechecks.ts), on fake timers: a read at each
 * delay after the latest news of a conversation, later news adding reads after it,
 * and none after the last delay.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { NewsRechecks } from '../src/events/news-rechecks.ts'

beforeEach(() => void vi.useFakeTimers())
afterEach(() => void vi.useRealTimers())

describe('NewsRechecks', () => {
  it('reads at each delay after the latest news, then stops', async () => {
    const reads: number[] = []
    const rechecks = new NewsRechecks(() => reads.push(performance.now()), [20, 200])
    const start = performance.now()
    rechecks.news('c')
    await vi.advanceTimersByTimeAsync(100)
    // News meanwhile: the read due at 200 ms still comes, and one more 200 ms after the news.
    rechecks.news('c')
    await vi.advanceTimersByTimeAsync(10_000)
    expect(reads.map(at => Math.round(at - start))).toEqual([20, 200, 300])
    expect(vi.getTimerCount()).toBe(0)
  })

  it('reads no more once stopped', async () => {
    const reads: string[] = []
    const rechecks = new NewsRechecks(conversationId => reads.push(conversationId), [20, 200])
    rechecks.news('c')
    rechecks.news('d')
    await vi.advanceTimersByTimeAsync(50)
    rechecks.stop('c')
    await vi.advanceTimersByTimeAsync(10_000)
    expect(reads).toEqual(['c', 'd', 'd'])
  })
})
