/**
 * A sync message the relay core cannot route because its storage does not answer (the
 * registry read behind `serves` fails: PostgreSQL down) closes the connection with 1011,
 * so the client reconnects and sends it again; it was an unhandled rejection that dropped
 * the message and left the socket open, the client believing it sent.
 */
import { next as A } from '@automerge/automerge'
import { cbor, generateAutomergeUrl, parseAutomergeUrl } from '@automerge/automerge-repo'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { joinedAdapter } from './fake-socket.ts'

describe('a relay route that cannot be read', () => {
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown) => void unhandled.push(reason)
  afterEach(() => void process.off('unhandledRejection', onUnhandled))

  it('closes the connection with 1011 instead of dropping the message unhandled', async () => {
    process.on('unhandledRejection', onUnhandled)
    const { socket } = joinedAdapter({
      relay: {
        serves: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432')),
        relay: async () => undefined,
      },
    })
    const frame = (message: object) => socket.emit('message', cbor.encode(message))
    frame({ type: 'sync', senderId: 'alice-1', targetId: 'server', documentId: parseAutomergeUrl(generateAutomergeUrl()).documentId, data: A.encodeSyncMessage({ heads: [], need: [], have: [], changes: [] }) })
    await vi.waitFor(() => expect(socket.closes.length).toBeGreaterThan(0))
    expect(socket.closes).toEqual([{ code: 1011, reason: expect.stringContaining('ECONNREFUSED') }])
    await new Promise(resolve => setTimeout(resolve, 20))
    expect(unhandled).toEqual([])
  })
})
