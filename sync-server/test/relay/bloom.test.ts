import { next as A } from '@automerge/automerge'
import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { BloomFilter } from '../../src/relay/bloom.ts'
import { parseChangeChunk } from '../../src/relay/change-chunk.ts'
import { allChanges, play, stepArbitrary } from './histories.ts'

describe('BloomFilter', () => {
  it('encodes exactly the filter Automerge puts in its own first sync message', () => {
    fc.assert(
      fc.property(fc.array(stepArbitrary(3), { minLength: 1, maxLength: 40 }), steps => {
        const docs = play(3, steps)
        const doc = docs.reduce((a, b) => A.merge(a, A.clone(b)))
        const [, message] = A.generateSyncMessage(doc, A.initSyncState())
        const decoded = A.decodeSyncMessage(message!)
        const hashes = allChanges([doc]).map(change => parseChangeChunk(change).hash)
        expect(decoded.have).toHaveLength(1)
        expect(BloomFilter.fromHashes(hashes).encode()).toEqual(decoded.have[0]!.bloom)
        const read = BloomFilter.decode(decoded.have[0]!.bloom)
        for (const hash of hashes) expect(read.contains(hash)).toBe(true)
      }),
      { numRuns: 30 },
    )
  })

  it('has no false negatives and about 1 % false positives', () => {
    const hex = (i: number, salt: string) => createHash('sha256').update(`${salt}${i}`).digest('hex')
    const members = Array.from({ length: 500 }, (_, i) => hex(i, 'member'))
    const filter = BloomFilter.decode(BloomFilter.fromHashes(members).encode())
    expect(members.every(hash => filter.contains(hash))).toBe(true)
    const probes = Array.from({ length: 5000 }, (_, i) => hex(i, 'probe'))
    const positives = probes.filter(hash => filter.contains(hash)).length
    expect(positives).toBeLessThan(250)
  })

  it('reads hashes in either case of hex and refuses anything else', () => {
    const hash = createHash('sha256').update('x').digest('hex')
    expect(BloomFilter.fromHashes([hash.toUpperCase()]).encode()).toEqual(BloomFilter.fromHashes([hash]).encode())
    expect(() => BloomFilter.fromHashes([`g${hash.slice(1)}`])).toThrow(/not hex/)
    expect(() => BloomFilter.fromHashes([hash.slice(0, 20)])).toThrow(/not hex/)
    expect(() => BloomFilter.fromHashes([hash]).contains(`${hash.slice(0, 23)}z${hash.slice(24)}`)).toThrow(/not hex/)
  })

  it('an empty filter encodes to no bytes and contains nothing', () => {
    expect(BloomFilter.fromHashes([]).encode()).toEqual(new Uint8Array(0))
    expect(BloomFilter.decode(new Uint8Array(0)).contains('00'.repeat(32))).toBe(false)
  })

  it('refuses a filter whose bits do not match its declared size or that declares too much', () => {
    const bytes = BloomFilter.fromHashes(['11'.repeat(32)]).encode()
    expect(() => BloomFilter.decode(bytes.subarray(0, bytes.length - 1))).toThrow(/length/)
    expect(() => BloomFilter.decode(new Uint8Array([0xff, 0xff, 0xff, 0x7f, 10, 7]))).toThrow(/range/)
  })
})
