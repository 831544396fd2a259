import type { ReadEvent } from '@parley/core'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ReadCursor, receiptInterval } from '../src/read-cursor.ts'

const receipt = (target: string): ReadEvent => ({ id: `r-${target}`, type: 'read', target, author: 'alice', device: 'd', at: 1 })

describe('a read cursor moved at most once per interval', () => {
  let written: string[]
  const cursor = (intervalMs: number) => new ReadCursor(() => intervalMs, async one => void written.push(one.target))
  beforeEach(() => {
    vi.useFakeTimers()
    written = []
  })
  afterEach(() => vi.useRealTimers())

  it('writes the first move at once, and of the moves within the interval only the newest, at its end', async () => {
    const reads = cursor(2000)
    await reads.move(receipt('m1'))
    expect(written).toEqual(['m1'])
    const waiting = [reads.move(receipt('m2')), reads.move(receipt('m3')), reads.move(receipt('m4'))]
    expect(reads.pending?.target).toBe('m4')
    await vi.advanceTimersByTimeAsync(1999)
    expect(written).toEqual(['m1'])
    await vi.advanceTimersByTimeAsync(1)
    await Promise.all(waiting)
    expect(written).toEqual(['m1', 'm4'])
    expect(reads.pending).toBeUndefined()
  })

  it('writes a move after a quiet interval at once', async () => {
    const reads = cursor(2000)
    await reads.move(receipt('m1'))
    await vi.advanceTimersByTimeAsync(2500)
    await reads.move(receipt('m2'))
    expect(written).toEqual(['m1', 'm2'])
  })

  it('writes a waiting move when flushed, and nothing when none waits', async () => {
    const reads = cursor(2000)
    await reads.flush()
    expect(written).toEqual([])
    await reads.move(receipt('m1'))
    const waiting = reads.move(receipt('m2'))
    await reads.flush()
    await waiting
    expect(written).toEqual(['m1', 'm2'])
    await vi.advanceTimersByTimeAsync(5000)
    expect(written).toEqual(['m1', 'm2'])
  })

  it('rejects the waiting moves when their write fails', async () => {
    const reads = new ReadCursor(() => 1000, async one => {
      if (one.target === 'm2') throw new Error('disk full')
    })
    await reads.move(receipt('m1'))
    const waiting = reads.move(receipt('m2'))
    const failed = expect(waiting).rejects.toThrow('disk full')
    await vi.advanceTimersByTimeAsync(1000)
    await failed
  })

  it('writes every move at once with an interval of 0', async () => {
    const reads = cursor(0)
    for (const target of ['m1', 'm2', 'm3']) await reads.move(receipt(target))
    expect(written).toEqual(['m1', 'm2', 'm3'])
  })

  it('asks for the interval at each move: a group that grew waits longer', async () => {
    let members = 2
    const reads = new ReadCursor(() => receiptInterval(2000, members), async one => void written.push(one.target))
    await reads.move(receipt('m1'))
    await vi.advanceTimersByTimeAsync(2000)
    await reads.move(receipt('m2'))
    members = 30
    const waiting = reads.move(receipt('m3'))
    await vi.advanceTimersByTimeAsync(5999)
    expect(written).toEqual(['m1', 'm2'])
    await vi.advanceTimersByTimeAsync(1)
    await waiting
    expect(written).toEqual(['m1', 'm2', 'm3'])
  })
})

describe('the interval in a group', () => {
  it('keeps the option up to 10 members, then grows so that a group writes 5 receipts a second at most; 0 stays 0', () => {
    expect([2, 10, 30, 100, 1000].map(members => receiptInterval(2000, members))).toEqual([2000, 2000, 6000, 20_000, 200_000])
    expect(receiptInterval(0, 1000)).toBe(0)
  })
})
