import { cbor } from '@automerge/automerge-repo'
import { next as Automerge } from '@automerge/automerge'
import fc from 'fast-check'
import { inboxDocumentId } from '@parley/core'
import { describe, expect, it } from 'vitest'
import { uleb } from '../src/chunk-builders.ts'
import { decodeFrame, decodeSyncData } from '../src/network/frames.ts'

const DOC = inboxDocumentId('frames-test')
const syncData = Automerge.encodeSyncMessage({ heads: [], need: [], have: [], changes: [] })

describe('decodeFrame', () => {
  it.each([
    ['CBOR null', Uint8Array.of(0xf6)],
    ['a bare number', cbor.encode(42)],
    ['a string', cbor.encode('join')],
    ['an array', cbor.encode(['join'])],
    ['bytes', cbor.encode(Uint8Array.of(1, 2))],
    ['truncated CBOR', cbor.encode({ type: 'join', senderId: 'peer' }).slice(0, 5)],
    ['no type', cbor.encode({ senderId: 'peer' })],
    ['an unknown type', cbor.encode({ type: 'gossip', senderId: 'p', targetId: 's' })],
    ['sync without targetId', cbor.encode({ type: 'sync', senderId: 'p', documentId: DOC, data: syncData })],
    ['sync with a bad document ID', cbor.encode({ type: 'sync', senderId: 'p', targetId: 's', documentId: 'nope', data: syncData })],
    ['sync with data that is not a sync message', cbor.encode({ type: 'sync', senderId: 'p', targetId: 's', documentId: DOC, data: Uint8Array.of(9, 9, 9) })],
    ['sync with string data', cbor.encode({ type: 'sync', senderId: 'p', targetId: 's', documentId: DOC, data: 'x' })],
    ['ephemeral data that is not CBOR', cbor.encode({ type: 'ephemeral', senderId: 'p', targetId: 's', documentId: DOC, count: 1, sessionId: 'x', data: Uint8Array.of(0x1c) })],
    ['join with a list as metadata', cbor.encode({ type: 'join', senderId: 'p', peerMetadata: [] })],
    ['a heads request for an invalid ID', cbor.encode({ type: 'parley/heads-request', senderId: 'p', requestId: 1, documentIds: ['x'] })],
  ])('rejects %s', (_name, bytes) => {
    const result = decodeFrame(bytes)
    expect(result.ok).toBe(false)
  })

  it('accepts the messages stock clients send', () => {
    const frames = [
      { type: 'join', senderId: 'p', peerMetadata: { storageId: 'x', isEphemeral: false }, supportedProtocolVersions: ['1'] },
      { type: 'sync', senderId: 'p', targetId: 's', documentId: DOC, data: syncData },
      { type: 'request', senderId: 'p', targetId: 's', documentId: DOC, data: syncData },
      { type: 'doc-unavailable', senderId: 'p', targetId: 's', documentId: DOC },
      { type: 'ephemeral', senderId: 'p', targetId: 's', documentId: DOC, count: 1, sessionId: 'x', data: cbor.encode({ typing: true }) },
      { type: 'parley/heads-request', senderId: 'p', requestId: 1, documentIds: [DOC] },
    ]
    for (const frame of frames) expect(decodeFrame(cbor.encode(frame))).toMatchObject({ ok: true })
  })

  it.each(['constructor', '__proto__', 'hasOwnProperty', 'toString', 'valueOf'])('refuses a message type named after an Object member (%s) without throwing', type => {
    const frame = cbor.encode({ type, senderId: 'peer', targetId: 'server', documentId: inboxDocumentId('x') })
    expect(decodeFrame(frame)).toEqual({ ok: false, reason: expect.stringMatching(/unknown message type/) })
  })

  it('never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), bytes => {
        expect(() => decodeFrame(bytes)).not.toThrow()
      }),
      { seed: 2026, numRuns: 2000 },
    )
  })
})

describe('decodeFrame: sync message layouts that cost the server (issue 13, item 1)', () => {
  const frame = (data: Uint8Array) => decodeFrame(cbor.encode({ type: 'sync', senderId: 'p', targetId: 's', documentId: DOC, data }))
  const hash = (i: number) => i.toString(16).padStart(64, '0')

  it('accepts every message two Automerge peers exchange (both message versions)', () => {
    let doc = Automerge.init<{ n: number }>()
    for (let i = 0; i < 5; i++) doc = Automerge.change(doc, d => void (d.n = i))
    let [ours, theirs, other] = [Automerge.initSyncState(), Automerge.initSyncState(), Automerge.init<{ n: number }>()]
    const versions = new Set<number>()
    for (let round = 0; round < 4; round++) {
      let message
      ;[ours, message] = Automerge.generateSyncMessage(doc, ours)
      if (message) {
        versions.add(message[0]!)
        expect(frame(message)).toMatchObject({ ok: true })
        ;[other, theirs] = Automerge.receiveSyncMessage(other, theirs, message)
      }
      ;[theirs, message] = Automerge.generateSyncMessage(other, theirs)
      if (message) {
        versions.add(message[0]!)
        expect(frame(message)).toMatchObject({ ok: true })
        ;[doc, ours] = Automerge.receiveSyncMessage(doc, ours, message)
      }
    }
    expect([...versions].sort()).toEqual([0x42, 0x43])
  })

  it.each([
    ['8,193 hashes', Automerge.encodeSyncMessage({ heads: Array.from({ length: 4_000 }, (_, i) => hash(i)), need: Array.from({ length: 4_193 }, (_, i) => hash(i)), have: [], changes: [] }), /hashes/],
    ['4,097 (empty) changes', new Uint8Array([0x42, 0, 0, 0, ...uleb(4_097), ...new Uint8Array(4_097)]), /changes/],
    ['a Bloom filter of 33 probes', Automerge.encodeSyncMessage({ heads: [], need: [], have: [{ lastSync: [], bloom: new Uint8Array([1, 10, 33, 0xff, 0xff]) }], changes: [] }), /Bloom/],
    ['a Bloom filter of 33 bits per entry', Automerge.encodeSyncMessage({ heads: [], need: [], have: [{ lastSync: [], bloom: new Uint8Array([1, 33, 7, 0xff, 0xff, 0xff, 0xff, 0xff]) }], changes: [] }), /Bloom/],
    ['a count larger than its message', new Uint8Array([0x42, ...uleb(1_000_000)]), /not an Automerge sync message/],
  ])('refuses a sync message with %s before Automerge decodes it', (_, data, reason) => {
    expect(frame(data)).toEqual({ ok: false, reason: expect.stringMatching(reason) })
  })

  it('accepts the most a sync message may list: 8,192 hashes, 4,096 changes', () => {
    expect(frame(Automerge.encodeSyncMessage({ heads: Array.from({ length: 8_192 }, (_, i) => hash(i)), need: [], have: [], changes: [] }))).toMatchObject({ ok: true })
    expect(frame(new Uint8Array([0x42, 0, 0, 0, ...uleb(4_096), ...new Uint8Array(4_096)]))).toMatchObject({ ok: true })
  })
})

describe('decodeSyncData: one decode per inbound sync message', () => {
  const hash = (i: number) => i.toString(16).padStart(64, '0')

  it('returns the value the frame check decoded, the same object every time, equal to Automerge’s decode', () => {
    let doc = Automerge.init<{ n: number }>()
    for (let i = 0; i < 3; i++) doc = Automerge.change(doc, d => void (d.n = i))
    const [, data] = Automerge.generateSyncMessage(doc, Automerge.initSyncState())
    const result = decodeFrame(cbor.encode({ type: 'sync', senderId: 'p', targetId: 's', documentId: DOC, data }))
    if (!result.ok || result.frame.kind !== 'repo') throw new Error('frame refused')
    const checked = (result.frame.message as { data: Uint8Array }).data
    const decoded = decodeSyncData(checked)
    expect(decodeSyncData(checked)).toBe(decoded)
    expect(decoded).toStrictEqual(Automerge.decodeSyncMessage(data!))
    // The access guard re-encodes it with Automerge (changes held back): the shape Automerge takes.
    expect(Automerge.encodeSyncMessage({ ...decoded, changes: [] })).toEqual(Automerge.encodeSyncMessage({ ...Automerge.decodeSyncMessage(data!), changes: [] }))
  })

  it('decodes the server’s own messages (never frame-checked) without the inbound limits', () => {
    const frame = (data: Uint8Array) => decodeFrame(cbor.encode({ type: 'sync', senderId: 'p', targetId: 's', documentId: DOC, data }))
    const data = Automerge.encodeSyncMessage({ heads: Array.from({ length: 9_000 }, (_, i) => hash(i)), need: [], have: [], changes: [] })
    expect(frame(data)).toMatchObject({ ok: false })
    expect(decodeSyncData(data).heads).toHaveLength(9_000)
  })
})

