import { cbor } from '@automerge/automerge-repo'
import { next as Automerge } from '@automerge/automerge'
import fc from 'fast-check'
import { inboxDocumentId } from '@parley/core'
import { describe, expect, it } from 'vitest'
import { decodeFrame } from '../src/network/frames.ts'

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
