/**
 * The JavaScript change decoder (src/access/change-decode.ts) against Automerge's own
 * decodeChange: the same value for every change it reads, on random changes of maps,
 * lists and every scalar type; and on mutated bytes (checksum made right again, so the
 * decoder sees them) it never returns a value Automerge would not return.
 */
import * as A from '@automerge/automerge'
import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { decodeChangeChunk } from '../src/access/change-decode.ts'

type Doc = A.Doc<Record<string, unknown>>

const hashOf = (chunk: Uint8Array): string => createHash('sha256').update(chunk.subarray(8)).digest('hex')

function automerge(chunk: Uint8Array): A.DecodedChange | 'refused' {
  try {
    return A.decodeChange(chunk)
  } catch {
    return 'refused'
  }
}

/** Ours agrees: the same value as Automerge's, or undefined (left to Automerge). */
function expectAgreement(chunk: Uint8Array): A.DecodedChange | undefined {
  const ours = decodeChangeChunk(chunk, hashOf(chunk))
  if (ours !== undefined) expect(ours).toStrictEqual(automerge(chunk))
  return ours
}

const scalar = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.maxSafeInteger().map(n => new A.Uint(Math.abs(n))),
  fc.uint8Array({ maxLength: 8 }),
  fc.integer().map(n => new A.Counter(n)),
  fc.integer({ min: 0, max: 2 ** 40 }).map(n => new Date(n)),
)

type Edit =
  | { kind: 'set'; key: string; value: unknown }
  | { kind: 'delete'; key: string }
  | { kind: 'push'; value: unknown }
  | { kind: 'insert'; at: number; value: unknown }
  | { kind: 'remove'; at: number }
  | { kind: 'nest'; key: string }

const key = fc.constantFrom('a', 'b', 'ç', 'events', '')
const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key, value: scalar }),
  fc.record({ kind: fc.constant('delete' as const), key }),
  fc.record({ kind: fc.constant('push' as const), value: scalar }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(5), value: scalar }),
  fc.record({ kind: fc.constant('remove' as const), at: fc.nat(5) }),
  fc.record({ kind: fc.constant('nest' as const), key }),
)

function apply(doc: Doc, edits: Edit[], message: string | undefined): Doc {
  return A.change(doc, message === undefined ? {} : { message }, d => {
    const list = (d.list ??= []) as unknown[]
    const map = (d.map ??= {}) as Record<string, unknown>
    for (const e of edits) {
      if (e.kind === 'set') map[e.key] = e.value
      else if (e.kind === 'delete') delete map[e.key]
      else if (e.kind === 'push') list.push(e.value)
      else if (e.kind === 'insert') list.splice(Math.min(e.at, list.length), 0, e.value)
      else if (e.kind === 'remove' && list.length > 0) list.splice(e.at % list.length, 1)
      else if (e.kind === 'nest') map[e.key] = { inner: [1, 'two'] }
    }
  })
}

/** The changes of a random history of one or two actors (the second merging the first's). */
const randomChanges = fc
  .record({ first: fc.array(fc.array(edit, { maxLength: 6 }), { minLength: 1, maxLength: 5 }), second: fc.array(fc.array(edit, { maxLength: 6 }), { maxLength: 3 }), message: fc.option(fc.string(), { nil: undefined }) })
  .map(({ first, second, message }) => {
    let a: Doc = A.init()
    for (const edits of first) a = apply(a, edits, message)
    let b: Doc = A.merge(A.init(), A.clone(a))
    for (const edits of second) b = apply(b, edits, undefined)
    return A.getAllChanges(b)
  })

describe('decodeChangeChunk', () => {
  it('reads a Parley append as Automerge does', () => {
    let doc = A.from<{ events: string[] }>({ events: [] })
    doc = A.change(doc, d => void d.events.push(JSON.stringify({ id: 'e1', type: 'message', text: 'héllo' })))
    const chunk = A.getLastLocalChange(doc)!
    expect(decodeChangeChunk(chunk, hashOf(chunk))).toStrictEqual(A.decodeChange(chunk))
  })

  it('agrees with Automerge on every change of random histories of maps, lists and scalars', () => {
    let read = 0
    fc.assert(
      fc.property(randomChanges, changes => {
        for (const chunk of changes) if (expectAgreement(chunk) !== undefined) read++
      }),
      { numRuns: 200 },
    )
    // Not a vacuous pass: most changes are read here, not left to Automerge.
    expect(read).toBeGreaterThan(200)
  })

  it('never returns a value Automerge would not, on mutated bytes with a valid checksum', () => {
    // Mutations of a fixed pool of changes (making histories is the slow part).
    const pool = fc.sample(randomChanges, { numRuns: 40, seed: 15 }).flat()
    const mutation = fc.record({ change: fc.nat(pool.length - 1), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), kind: fc.constantFrom('set', 'flip', 'cut') })
    fc.assert(
      fc.property(mutation, ({ change, at, byte, kind }) => {
        const original = pool[change]!
        const bodyStart = 11 // magic, checksum, type, and at least one byte of length
        let chunk = original.slice()
        const index = bodyStart + (at % (chunk.length - bodyStart))
        if (kind === 'cut') chunk = chunk.slice(0, index)
        else if (kind === 'flip') chunk[index] = chunk[index]! ^ (1 << (byte % 8))
        else chunk[index] = byte
        // The checksum made right again, so the bytes get past it to the decoder.
        chunk.set(createHash('sha256').update(chunk.subarray(8)).digest().subarray(0, 4), 4)
        expectAgreement(chunk)
      }),
      { numRuns: 5_000 },
    )
  })

  it('reads integers of eight LEB128 bytes exactly, negative ones included', () => {
    for (const n of [-1940206279577340, 1940206279577340, -(2 ** 53) + 1, 2 ** 53 - 1, -(2 ** 49) - 3]) {
      const doc = A.change(A.init<Record<string, unknown>>(), d => void (d.n = n))
      const chunk = A.getLastLocalChange(doc)!
      expect(decodeChangeChunk(chunk, hashOf(chunk))).toStrictEqual(A.decodeChange(chunk))
    }
  })

  it('leaves to Automerge list and delete ops Parley never writes: a non-insert at the head, an insert with preds, a list element or a delete without preds', () => {
    // Shapes of the mutated changes on which the property above once caught this decoder
    // returning a value where Automerge refused (a flipped insert bit, a shifted pred group).
    const before = A.from<{ list: unknown[]; map: Record<string, unknown> }>({ list: ['x'], map: { a: 1 } })
    const after = A.change(before, d => {
      d.list.unshift('y')
      delete d.map.a
    })
    const original = A.decodeChange(A.getLastLocalChange(after)!)
    type Op = Record<string, unknown> & { pred: string[] }
    const originalOps = original.ops as Op[]
    const insertAt = originalOps.findIndex(op => op.insert === true)
    const deleteAt = originalOps.findIndex(op => op.action === 'del')
    const variant = (edit: (ops: Op[]) => void): Uint8Array => {
      const ops = originalOps.map(op => ({ ...op, pred: [...op.pred] }))
      edit(ops)
      const { hash: _hash, ...rest } = original
      return A.encodeChange({ ...rest, ops } as unknown as A.DecodedChange)
    }
    const variants = [
      variant(ops => void delete ops[insertAt]!.insert), // at the head, no insert
      variant(ops => void ops[insertAt]!.pred.push(`1@${original.actor}`)), // an insert with a pred
      variant(ops => void ops[deleteAt]!.pred.splice(0)), // a delete of nothing
      variant(ops => void (ops[insertAt] = { ...ops[insertAt]!, elemId: `2@${original.actor}`, insert: false })), // a list element overwritten, no pred
    ]
    for (const chunk of variants) expect(decodeChangeChunk(chunk, hashOf(chunk))).toBeUndefined()
  })

  it('leaves compressed changes and other actions to Automerge', () => {
    let doc = A.from<{ text: A.Text; n: A.Counter }>({ text: new A.Text(''), n: new A.Counter(0) })
    doc = A.change(doc, d => d.n.increment(1))
    const chunk = A.getLastLocalChange(doc)!
    expect(decodeChangeChunk(chunk, hashOf(chunk))).toBeUndefined()
  })
})
