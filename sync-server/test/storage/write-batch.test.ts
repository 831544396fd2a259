/** WriteBatch (storage/write-batch.ts): writes made while one is out share the next round trip. */
import { describe, expect, it } from 'vitest'
import { WriteBatch } from '../../src/storage/write-batch.ts'

describe('WriteBatch', () => {
  it('writes the first at once and everything added meanwhile in one write; a failure rejects its own batch only', async () => {
    const writes: number[][] = []
    let release: () => void = () => {}
    let fail = false
    const batch = new WriteBatch<number>(async items => {
      writes.push(items)
      await new Promise<void>(resolve => (release = resolve))
      if (fail) throw new Error('down')
    })
    const first = batch.add([1])
    expect(writes).toEqual([[1]])
    const rest = [batch.add([2]), batch.add([3, 4]), batch.add([])]
    release()
    await first
    expect(writes).toEqual([[1], [2, 3, 4]])
    const late = batch.add([5]).catch((error: Error) => error.message)
    release()
    await Promise.all(rest)
    fail = true
    release()
    expect(await late).toBe('down')
    expect(writes).toEqual([[1], [2, 3, 4], [5]])
    await batch.idle()
  })
})
