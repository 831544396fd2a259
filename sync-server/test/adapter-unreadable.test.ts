/**
 * A sync message the server would send about a document its user may not read (any more:
 * removed from the conversation while syncing it) is answered doc-unavailable instead of
 * being dropped, which left the peer's sync waiting for an answer that never came
 * (network/server-adapter.ts `send`). Other messages about it (ephemeral) are dropped.
 */
import { next as A } from '@automerge/automerge'
import { cbor, generateAutomergeUrl, parseAutomergeUrl, type Message, type PeerId } from '@automerge/automerge-repo'
import { describe, expect, it } from 'vitest'
import { userPeerId } from '../src/network/server-adapter.ts'
import { joinedAdapter } from './fake-socket.ts'

const newDocumentId = () => parseAutomergeUrl(generateAutomergeUrl()).documentId

describe('the adapter’s send, to a user who may not read the document', () => {
  it('answers a sync message with doc-unavailable and drops ephemeral ones; readable documents go through', () => {
    const [readable, unreadable] = [newDocumentId(), newDocumentId()]
    const { adapter, socket } = joinedAdapter({ mayReceive: (user, documentId) => user === 'alice' && documentId === readable })
    const sent = () => socket.sent.map(frame => cbor.decode(frame) as Record<string, unknown>)
    expect(sent().map(frame => frame.type)).toEqual(['peer'])
    socket.sent.length = 0

    const targetId = userPeerId('alice', 'alice-1')
    const data = A.encodeSyncMessage({ heads: A.getHeads(A.from({ text: 'secret' })), need: [], have: [], changes: [] })
    adapter.send({ type: 'sync', senderId: 'server' as PeerId, targetId, documentId: unreadable, data } as Message)
    adapter.send({ type: 'ephemeral', senderId: 'server' as PeerId, targetId, documentId: unreadable, sessionId: 's', count: 1, data } as Message)
    adapter.send({ type: 'sync', senderId: 'server' as PeerId, targetId, documentId: readable, data } as Message)
    expect(sent()).toEqual([
      { type: 'doc-unavailable', senderId: 'server', targetId: 'alice-1', documentId: unreadable },
      expect.objectContaining({ type: 'sync', targetId: 'alice-1', documentId: readable }),
    ])
    expect(socket.closes).toEqual([])
  })

  it('lets through a sync message saying the server holds none of the document: a creator is asked for its changes', () => {
    // The race it settles: a client creating a conversation sends the first (change-less)
    // messages of its head and first segment together; the repo answers the segment before
    // the head's changes register it, and doc-unavailable there left the segment unsent.
    const creating = newDocumentId()
    const { adapter, socket } = joinedAdapter({ mayReceive: () => false })
    socket.sent.length = 0
    const targetId = userPeerId('alice', 'alice-1')
    const theirs = A.getHeads(A.from({ text: 'new' }))
    const asking = A.encodeSyncMessage({ heads: [], need: theirs, have: [{ lastSync: [], bloom: new Uint8Array() }], changes: [] })
    adapter.send({ type: 'sync', senderId: 'server' as PeerId, targetId, documentId: creating, data: asking } as Message)
    // Bytes it cannot read count as showing something: doc-unavailable, not a throw from send.
    adapter.send({ type: 'sync', senderId: 'server' as PeerId, targetId, documentId: creating, data: new Uint8Array([0x42, 0xff]) } as Message)
    expect(socket.sent.map(frame => cbor.decode(frame) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ type: 'sync', documentId: creating, data: asking }),
      { type: 'doc-unavailable', senderId: 'server', targetId: 'alice-1', documentId: creating },
    ])
  })
})
