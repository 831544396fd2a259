/**
 * The JavaScript sync-message codec (src/relay/sync-message.ts) against Automerge's own
 * encodeSyncMessage/decodeSyncMessage: the same bytes and the same decoded values on
 * messages from real Automerge sync sessions and on random structured messages; on any
 * other bytes it decodes exactly when Automerge does, and otherwise throws
 * SyncMessageError, `too-large` past the limits a client may send.
 */
import { next as A } from '@automerge/automerge'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DECODE_BUDGET, ulebLength } from '../../src/access/chunk-format.ts'
import { MAX_BLOOM_BITS_PER_ENTRY, MAX_BLOOM_ENTRIES, MAX_BLOOM_PROBES } from '../../src/relay/bloom.ts'
import { encodeUleb } from '../../src/relay/change-chunk.ts'
import { decodeSyncMessage, encodeSyncMessage, INBOUND_LIMITS, MAX_SYNC_HASHES, SyncMessageError, UNBOUNDED, type SyncMessageInput } from '../../src/relay/sync-message.ts'
import { play, stepArbitrary, type Doc } from './histories.ts'

/** Every message two Automerge peers exchange until they are in sync (Bloom filters, both versions, capabilities). */
function session(a: Doc, b: Doc): Uint8Array[] {
  const messages: Uint8Array[] = []
  let [stateA, stateB] = [A.initSyncState(), A.initSyncState()]
  for (let round = 0; round < 20; round++) {
    let message: Uint8Array | null
    ;[stateA, message] = A.generateSyncMessage(a, stateA)
    if (message) {
      messages.push(message)
      ;[b, stateB] = A.receiveSyncMessage(b, stateB, message)
    }
    const quiet = message === null
    ;[stateB, message] = A.generateSyncMessage(b, stateB)
    if (message) {
      messages.push(message)
      ;[a, stateA] = A.receiveSyncMessage(a, stateA, message)
    }
    if (quiet && message === null) break
  }
  return messages
}

const sessionMessages = fc
  .array(stepArbitrary(3), { maxLength: 30 })
  .map(steps => {
    const [a, b, c] = play(3, steps)
    // Two peers with overlapping, diverged histories: c's changes reach both.
    return session(A.merge(a!, A.clone(c!)), A.merge(b!, A.clone(c!)))
  })

/** What Automerge makes of the bytes: its decoded value, or 'refused'. */
function automergeDecode(bytes: Uint8Array): ReturnType<typeof A.decodeSyncMessage> | 'refused' {
  try {
    return A.decodeSyncMessage(bytes)
  } catch {
    return 'refused'
  }
}

function oursDecode(bytes: Uint8Array, limits = UNBOUNDED): ReturnType<typeof decodeSyncMessage> | SyncMessageError {
  try {
    return decodeSyncMessage(bytes, limits)
  } catch (error) {
    expect(error).toBeInstanceOf(SyncMessageError)
    return error as SyncMessageError
  }
}

/** Decoding `bytes` agrees with Automerge: the same value, or both refuse (ours with a clear malformed error). */
function expectAgreement(bytes: Uint8Array): void {
  const theirs = automergeDecode(bytes)
  const ours = oursDecode(bytes)
  if (theirs === 'refused') {
    expect(ours).toBeInstanceOf(SyncMessageError)
    expect((ours as SyncMessageError).kind).toBe('malformed')
    expect((ours as SyncMessageError).message).toMatch(/^not an Automerge sync message: /)
  } else {
    expect(ours).toStrictEqual(theirs)
  }
  // With the inbound limits: the same, or refused as too large.
  const bounded = oursDecode(bytes, INBOUND_LIMITS)
  if (!(bounded instanceof SyncMessageError) || bounded.kind === 'malformed') expect(bounded).toStrictEqual(ours)
}

const hashArbitrary = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(bytes => Buffer.from(bytes).toString('hex'))
const hashesArbitrary = fc.array(hashArbitrary, { maxLength: 6 })

/** Bloom filter bytes: empty, a filter (maybe of no entries, maybe with bytes past its bits), or any bytes. */
const bloomArbitrary: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constant(new Uint8Array(0)),
  fc
    .record({ entries: fc.nat(40), bitsPerEntry: fc.nat(MAX_BLOOM_BITS_PER_ENTRY), probes: fc.nat(MAX_BLOOM_PROBES), seed: fc.uint8Array({ maxLength: 200 }), extra: fc.nat(3) })
    .map(({ entries, bitsPerEntry, probes, seed, extra }) => {
      const bits = Array.from({ length: Math.ceil((entries * bitsPerEntry) / 8) + extra }, (_, i) => seed[i % Math.max(1, seed.length)] ?? 0)
      return new Uint8Array([...encodeUleb(entries), ...encodeUleb(bitsPerEntry), ...encodeUleb(probes), ...bits])
    }),
  fc.uint8Array({ maxLength: 12 }),
)

const messageArbitrary: fc.Arbitrary<SyncMessageInput> = fc.record(
  {
    heads: hashesArbitrary,
    need: hashesArbitrary,
    have: fc.array(fc.record({ lastSync: hashesArbitrary, bloom: bloomArbitrary }), { maxLength: 3 }),
    changes: fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 5 }),
    type: fc.constantFrom('v1', 'v2'),
    supportedCapabilities: fc.array(fc.constantFrom('message-v1', 'message-v2'), { maxLength: 3 }),
  },
  { requiredKeys: ['heads', 'need', 'have', 'changes'] },
)

/** A real message with one change: a byte replaced, inserted, removed, or cut off. */
const mutationArbitrary = fc.record({ kind: fc.constantFrom('replace', 'insert', 'remove', 'truncate'), at: fc.nat(), byte: fc.nat(255) })

function mutate(bytes: Uint8Array, { kind, at, byte }: { kind: string; at: number; byte: number }): Uint8Array {
  const i = at % (bytes.length + 1)
  const list = [...bytes]
  if (kind === 'replace' && i < list.length) list[i] = byte
  if (kind === 'insert') list.splice(i, 0, byte)
  if (kind === 'remove') list.splice(i, 1)
  if (kind === 'truncate') list.length = i
  return new Uint8Array(list)
}

describe('sync-message codec against Automerge', () => {
  it('decodes every message of real sync sessions to Automerge’s value and encodes it back to the same bytes', () => {
    const seen = { v2: false, capabilities: false, blooms: false }
    fc.assert(
      fc.property(sessionMessages, messages => {
        for (const bytes of messages) {
          const ours = decodeSyncMessage(bytes)
          expect(ours).toStrictEqual(A.decodeSyncMessage(bytes))
          expect(encodeSyncMessage(ours)).toEqual(bytes)
          expect(encodeSyncMessage(ours)).toEqual(A.encodeSyncMessage(A.decodeSyncMessage(bytes)))
          seen.v2 ||= ours.type === 'v2'
          seen.capabilities ||= ours.supportedCapabilities !== undefined
          seen.blooms ||= ours.have.some(have => have.bloom.length > 0)
        }
      }),
      { numRuns: 60, seed: 15 },
    )
    // The sessions covered what the format has.
    expect(seen).toEqual({ v2: true, capabilities: true, blooms: true })
  })

  it('encodes random structured messages to Automerge’s bytes, and both decode them to the same value', () => {
    fc.assert(
      fc.property(messageArbitrary, message => {
        let theirs: Uint8Array | 'refused'
        try {
          theirs = A.encodeSyncMessage(message as never)
        } catch {
          theirs = 'refused'
        }
        if (theirs === 'refused') {
          expect(() => encodeSyncMessage(message)).toThrow(SyncMessageError)
          return
        }
        const ours = encodeSyncMessage(message)
        expect(ours).toEqual(theirs)
        expect(decodeSyncMessage(ours, UNBOUNDED)).toStrictEqual(A.decodeSyncMessage(theirs))
      }),
      { numRuns: 500, seed: 15 },
    )
  })

  it('decodes mutated and truncated real messages exactly when Automerge does, to the same value', () => {
    fc.assert(
      fc.property(sessionMessages, fc.array(mutationArbitrary, { minLength: 1, maxLength: 3 }), (messages, mutations) => {
        for (const message of messages) expectAgreement(mutations.reduce(mutate, message))
      }),
      { numRuns: 150, seed: 15 },
    )
  })

  it('decodes random bytes exactly when Automerge does, and throws nothing but SyncMessageError', () => {
    // Mostly small numbers, so that about one in twenty decodes (counts of 0–3, short fields).
    const body = fc.array(fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.nat(3) }, { weight: 2, arbitrary: fc.nat(255) }), { maxLength: 80 })
    fc.assert(
      fc.property(fc.constantFrom(0x42, 0x43, 0x41), body, (type, rest) => expectAgreement(new Uint8Array([type, ...rest]))),
      { numRuns: 2000, seed: 15 },
    )
    for (const input of [undefined, null, 'x', [0x42, 0, 0, 0, 0]]) expect(() => decodeSyncMessage(input as never)).toThrow(SyncMessageError)
  })

  it('refuses padded numbers as Automerge does, in counts and in Bloom filters', () => {
    const padded = new Uint8Array([0x42, 0x80, 0x00, 0, 0, 0])
    const paddedBloom = new Uint8Array([0x81, 0x00, 10, 7, 0xff, 0xff])
    const withPaddedBloom = new Uint8Array([0x42, 0, 0, 1, 0, paddedBloom.length, ...paddedBloom, 0])
    for (const bytes of [padded, withPaddedBloom]) {
      expect(automergeDecode(bytes)).toBe('refused')
      expect(() => decodeSyncMessage(bytes)).toThrow(/not an Automerge sync message: padded/)
    }
    const message = { heads: [], need: [], have: [{ lastSync: [], bloom: paddedBloom }], changes: [] }
    expect(() => A.encodeSyncMessage(message)).toThrow()
    expect(() => encodeSyncMessage(message)).toThrow(/padded/)
  })

  it('returns changes and Bloom filters as plain Uint8Arrays apart from the bytes it read, a Buffer (from CBOR) too', () => {
    const bloom = new Uint8Array([1, 10, 7, 0xaa, 0x55])
    const encoded = encodeSyncMessage({ heads: [], need: [], have: [{ lastSync: [], bloom }], changes: [new Uint8Array([1, 2, 3])] })
    for (const bytes of [encoded, Buffer.from(encoded)]) {
      const decoded = decodeSyncMessage(bytes)
      expect(decoded).toStrictEqual(A.decodeSyncMessage(bytes))
      bytes.fill(0)
      expect(decoded.changes).toStrictEqual([new Uint8Array([1, 2, 3])])
      expect(decoded.have[0]!.bloom).toStrictEqual(bloom)
    }
  })

  it('refuses invalid input to encode as Automerge does', () => {
    const bad: SyncMessageInput[] = [
      { heads: ['ab'], need: [], have: [], changes: [] },
      { heads: ['zz'.repeat(32)], need: [], have: [], changes: [] },
      { heads: [], need: [], have: [{ lastSync: [], bloom: new Uint8Array([5, 10, 7, 1]) }], changes: [] },
      { heads: [], need: [], have: [], changes: [], supportedCapabilities: ['message-v3'] },
    ]
    for (const message of bad) {
      expect(() => A.encodeSyncMessage(message as never)).toThrow()
      expect(() => encodeSyncMessage(message)).toThrow(SyncMessageError)
    }
  })
})

describe('sync-message limits (what a client may send)', () => {
  const hash = (i: number) => i.toString(16).padStart(64, '0')
  const hashes = (n: number) => Array.from({ length: n }, (_, i) => hash(i))
  const changes = (n: number) => new Uint8Array([0x42, 0, 0, 0, ...encodeUleb(n), ...new Uint8Array(n)])
  const tooLarge = (bytes: Uint8Array, reason: RegExp) => {
    expect(automergeDecode(bytes)).not.toBe('refused')
    expect(() => decodeSyncMessage(bytes)).toThrow(expect.objectContaining({ kind: 'too-large', message: expect.stringMatching(reason) }) as SyncMessageError)
    expect(decodeSyncMessage(bytes, UNBOUNDED)).toStrictEqual(A.decodeSyncMessage(bytes))
  }

  it('are the frame check’s and the decode budget’s, not copies', () => {
    expect(INBOUND_LIMITS).toEqual({ hashes: MAX_SYNC_HASHES, changes: DECODE_BUDGET.rows, bloomEntries: MAX_BLOOM_ENTRIES, bloomBitsPerEntry: MAX_BLOOM_BITS_PER_ENTRY, bloomProbes: MAX_BLOOM_PROBES })
  })

  it(`takes ${MAX_SYNC_HASHES} hashes across heads, need and lastSync, and refuses one more`, () => {
    const most = A.encodeSyncMessage({ heads: hashes(4_000), need: hashes(4_000), have: [{ lastSync: hashes(192), bloom: new Uint8Array() }], changes: [] })
    expect(decodeSyncMessage(most).have[0]!.lastSync).toHaveLength(192)
    tooLarge(A.encodeSyncMessage({ heads: hashes(4_000), need: hashes(4_000), have: [{ lastSync: hashes(193), bloom: new Uint8Array() }], changes: [] }), /more than 8192 hashes/)
  })

  it(`takes ${DECODE_BUDGET.rows} changes and refuses one more`, () => {
    expect(decodeSyncMessage(changes(DECODE_BUDGET.rows)).changes).toHaveLength(DECODE_BUDGET.rows)
    tooLarge(changes(DECODE_BUDGET.rows + 1), /more than 4096 changes/)
  })

  it('refuses Bloom filters declaring more probes, bits per entry or entries than allowed', () => {
    const withBloom = (bloom: number[]) => new Uint8Array([0x42, 0, 0, 1, 0, ...encodeUleb(bloom.length), ...bloom, 0])
    expect(decodeSyncMessage(withBloom([1, 32, 32, 0xff, 0xff, 0xff, 0xff])).have[0]!.bloom).toHaveLength(7)
    tooLarge(withBloom([1, 10, 33, 0xff, 0xff]), /Bloom filter with more than 32 bits per entry or 32 probes/)
    tooLarge(withBloom([1, 33, 7, 0xff, 0xff, 0xff, 0xff, 0xff]), /Bloom filter with more than 32 bits per entry or 32 probes/)
    tooLarge(withBloom([...encodeUleb(MAX_BLOOM_ENTRIES + 1), 0, 7]), /Bloom filter of more than 1000000 entries/)
  })

  it('refuses a count its message cannot hold before allocating for it', () => {
    const bytes = new Uint8Array([0x42, ...encodeUleb(2 ** 40)])
    expect(() => decodeSyncMessage(bytes, UNBOUNDED)).toThrow(/not an Automerge sync message: count larger than its data/)
    expect(ulebLength(2 ** 40)).toBe(encodeUleb(2 ** 40).length)
  })
})
