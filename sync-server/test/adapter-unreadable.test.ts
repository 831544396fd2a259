/**
 * A sync message the server would send about a document its user may not read (any more:
 * removed from the conversation while syncing it) is answered doc-unavailable instead of
 * being dropped, which left the peer's sync waiting for an answer that never came
 * (network/server-adapter.ts `send`). Other messages about it (ephemeral) are dropped.
 */
import { next as A } from '@automerge/automerge'
import { cbor, generateAutomergeUrl, parseAutomergeUrl, type Message, type PeerId } from '@automerge/automerge-repo'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import type { WebSocket } from 'ws'
import { ParleyServerAdapter, userPeerId } from '../src/network/server-adapter.ts'
import { FakeSocket } from './fake-socket.ts'

const newDocumentId = () => parseAutomergeUrl(generateAutomergeUrl()).documentId

describe('the adapter’s send, to a user who may not read the document', () => {
  it('answers a sync message with doc-unavailable and drops ephemeral ones; readable documents go through', () => {
    const [readable, unreadable] = [newDocumentId(), newDocumentId()]
    const adapter = new ParleyServerAdapter({
      maxFrameBytes: 1 << 20,
      keepAliveMs: 60_000,
      rate: { perSecond: 100, burst: 100 },
      maxBufferedBytes: 1 << 20,
      inspect: async message => ({ ok: true, message }),
      mayReceive: (user, documentId) => user === 'alice' && documentId === readable,
      headsOf: async () => ({}),
    })
    adapter.connect('server' as PeerId)
    const sent: Record<string, unknown>[] = []
    const socket = new (class extends FakeSocket {
      override send(bytes?: Uint8Array): void {
        sent.push(cbor.decode(bytes!))
      }
    })()
    adapter.accept(socket as unknown as WebSocket, { user: 'alice' }, pino({ level: 'silent' }))
    socket.emit('message', cbor.encode({ type: 'join', senderId: 'alice-1', peerMetadata: {}, supportedProtocolVersions: ['1'] }))
    expect(sent.map(frame => frame.type)).toEqual(['peer'])
    sent.length = 0

    const targetId = userPeerId('alice', 'alice-1')
    const data = A.encodeSyncMessage({ heads: [], need: [], have: [], changes: [] })
    adapter.send({ type: 'sync', senderId: 'server' as PeerId, targetId, documentId: unreadable, data } as Message)
    adapter.send({ type: 'ephemeral', senderId: 'server' as PeerId, targetId, documentId: unreadable, sessionId: 's', count: 1, data } as Message)
    adapter.send({ type: 'sync', senderId: 'server' as PeerId, targetId, documentId: readable, data } as Message)
    expect(sent).toEqual([
      { type: 'doc-unavailable', senderId: 'server', targetId: 'alice-1', documentId: unreadable },
      expect.objectContaining({ type: 'sync', targetId: 'alice-1', documentId: readable }),
    ])
    expect(socket.closes).toEqual([])
  })
})
