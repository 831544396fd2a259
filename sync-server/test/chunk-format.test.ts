import { next as Automerge } from '@automerge/automerge'
import { appendEvent, initHead, initSegment, type HeadDoc, type SegmentDoc } from '@parley/core'
import fc from 'fast-check'
import { deflateRawSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { ChunkError, DECODE_BUDGET, measureChunk, type DecodeBudget } from '../src/access/chunk-format.ts'
import { decodeChanges, readUleb } from '../src/access/chunks.ts'
import { automergeChunk } from '../src/chunk-builders.ts'

const body = (chunk: Uint8Array): Uint8Array => chunk.subarray(readUleb(chunk, 9).next)
/** Rows and bytes `measureChunk` takes from an unlimited budget. */
function measure(chunk: Uint8Array): { rows: number; bytes: number } {
  const budget = { rows: 1e9, bytes: 1e9 }
  measureChunk(chunk[8]!, body(chunk), budget)
  return { rows: 1e9 - budget.rows, bytes: 1e9 - budget.bytes }
}
function kindOf(run: () => unknown): string {
  try {
    run()
    return 'accepted'
  } catch (error) {
    if (error instanceof ChunkError) return error.kind
    throw error
  }
}

const members = Array.from({ length: 1_000 }, (_, i) => `user-${i}`)
const bigHead = Automerge.change(Automerge.init<HeadDoc>(), d => initHead(d, { kind: 'group', title: 'big', creator: 'alice', members, at: 1, firstSegment: 'x' }))
const fullSegment = Automerge.change(Automerge.init<SegmentDoc>(), d => {
  initSegment(d, 'conversation')
  for (let i = 0; i < 1_000; i++) appendEvent(d, { id: `e${i}`, type: 'message', author: 'alice', device: 'd', at: i, text: 'hello '.repeat(20) })
})

describe('measureChunk', () => {
  it('counts the ops of real changes, and of documents their ops and changes, without decoding them', () => {
    // Any list of scalars appended over several changes, some removed again.
    fc.assert(
      fc.property(fc.array(fc.array(fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.boolean()), { maxLength: 20 }), { minLength: 1, maxLength: 5 }), fc.nat(), (batches, cut) => {
        let doc = Automerge.init<{ items: unknown[] }>()
        doc = Automerge.change(doc, d => void (d.items = []))
        for (const batch of batches) doc = Automerge.change(doc, d => void d.items.push(...batch))
        if (doc.items.length > 0) doc = Automerge.change(doc, d => void d.items.splice(cut % d.items.length, 1))
        const changes = Automerge.getAllChanges(doc)
        for (const change of changes) expect(measure(change).rows).toBe(Math.max(1, Automerge.decodeChange(change).ops.length))
        const ops = changes.reduce((sum, change) => sum + Automerge.decodeChange(change).ops.filter(op => op.action !== 'del').length, 0)
        expect(measure(Automerge.save(doc)).rows).toBe(ops + changes.length)
      }),
      { numRuns: 40 },
    )
  })

  it('lets through the largest legitimate documents: a head of 1,000 members, a segment of 1,000 events', () => {
    for (const doc of [bigHead, fullSegment] as Automerge.Doc<unknown>[]) {
      expect(decodeChanges([Automerge.save(doc)], DECODE_BUDGET).decoded.length).toBe(1)
      expect(decodeChanges(Automerge.getAllChanges(doc), DECODE_BUDGET).decoded.length).toBe(1)
    }
  })

  it('refuses a chunk of more rows than the budget as too large, whatever its size in bytes', () => {
    const doc = Automerge.change(Automerge.init<{ items: null[] }>(), d => void (d.items = new Array(5_000).fill(null)))
    const saved = Automerge.save(doc)
    expect(saved.length).toBeLessThan(300)
    expect(kindOf(() => measureChunk(0, body(saved), { ...DECODE_BUDGET }))).toBe('too-large')
    expect(kindOf(() => measureChunk(1, body(Automerge.getLastLocalChange(doc)!), { ...DECODE_BUDGET }))).toBe('too-large')
    // The budget is per message: two chunks of 3,000 rows each are too many together.
    const half = Automerge.getLastLocalChange(Automerge.change(Automerge.init<{ items: null[] }>(), d => void (d.items = new Array(3_000).fill(null))))!
    expect(kindOf(() => decodeChanges([half], DECODE_BUDGET))).toBe('accepted')
    expect(kindOf(() => decodeChanges([half, half], DECODE_BUDGET))).toBe('too-large')
  })

  it('inflates a compressed change no further than the bytes left in the budget', () => {
    const change = Automerge.getLastLocalChange(Automerge.change(Automerge.init<{ t: unknown }>(), d => void (d.t = new Automerge.RawString('x'.repeat(100_000)))))!
    const compressed = automergeChunk(2, deflateRawSync(body(change)))
    expect(compressed.length).toBeLessThan(1_000)
    expect(kindOf(() => measureChunk(2, body(compressed), { rows: 10, bytes: 200_000 }))).toBe('accepted')
    expect(kindOf(() => measureChunk(2, body(compressed), { rows: 10, bytes: 50_000 }))).toBe('too-large')
    // A DEFLATE bomb: 8 MiB of zeros in a few kilobytes.
    expect(kindOf(() => measureChunk(2, deflateRawSync(new Uint8Array(8 * 1024 * 1024)), { ...DECODE_BUDGET }))).toBe('too-large')
  })

  it('refuses ops Parley documents never hold (text, counter increments) as forbidden', () => {
    const text = Automerge.getLastLocalChange(Automerge.change(Automerge.init<{ t: string }>(), d => void (d.t = 'hi')))!
    const counted = Automerge.change(Automerge.init<{ n: Automerge.Counter }>(), d => void (d.n = new Automerge.Counter(1)))
    const increment = Automerge.getLastLocalChange(Automerge.change(counted, d => d.n.increment(2)))!
    for (const change of [text, increment]) expect(kindOf(() => measureChunk(1, body(change), { ...DECODE_BUDGET }))).toBe('forbidden')
  })

  it('throws nothing but ChunkError on any corruption of a real chunk', () => {
    const chunks = [Automerge.save(bigHead), Automerge.getAllChanges(fullSegment)[0]!]
    fc.assert(
      fc.property(fc.constantFrom(...chunks), fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }), (original, edits) => {
        const bytes = new Uint8Array(body(original))
        for (const { at, value } of edits) bytes[at % bytes.length] = value
        const budget: DecodeBudget = { ...DECODE_BUDGET }
        expect(['accepted', 'malformed', 'too-large', 'forbidden']).toContain(kindOf(() => measureChunk(original[8]!, bytes, budget)))
      }),
      { numRuns: 300 },
    )
  })
})
