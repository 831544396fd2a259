/** The group commit of accepted hashes (relay/accept-batch.ts). */
import { describe, expect, it } from 'vitest'
import { AcceptBatch } from '../../src/relay/accept-batch.ts'

describe('AcceptBatch', () => {
  it('writes the hashes of every message checked while a write is in flight in one next write, and settles each caller with its write', async () => {
    const writes: { hashes: string[]; done: () => void; fail: (error: Error) => void }[] = []
    const batch = new AcceptBatch(hashes => new Promise((resolve, reject) => writes.push({ hashes, done: resolve, fail: reject })))
    const settled: string[] = []
    const first = batch.accept(['a']).then(() => settled.push('a'))
    await Promise.resolve()
    await Promise.resolve()
    expect(writes.map(write => write.hashes)).toEqual([['a']])
    const second = batch.accept(['b', 'c']).then(() => settled.push('bc'))
    const third = batch.accept(['d']).then(
      () => settled.push('d'),
      () => settled.push('d failed'),
    )
    await new Promise(resolve => setImmediate(resolve))
    expect(writes).toHaveLength(1)
    writes[0]!.done()
    await first
    await new Promise(resolve => setImmediate(resolve))
    expect(settled).toEqual(['a'])
    expect(writes.map(write => write.hashes)).toEqual([['a'], ['b', 'c', 'd']])
    writes[1]!.fail(new Error('disk gone'))
    await expect(second).rejects.toThrow('disk gone')
    await third
    expect(settled).toEqual(['a', 'd failed'])
    // A failed write does not stop the next one.
    const fourth = batch.accept(['e'])
    await new Promise(resolve => setImmediate(resolve))
    expect(writes.map(write => write.hashes)).toEqual([['a'], ['b', 'c', 'd'], ['e']])
    writes[2]!.done()
    await fourth
  })
})
