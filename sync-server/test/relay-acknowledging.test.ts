/**
 * The network adapter takes a connection's next message once the relay core has relayed
 * the previous one, without waiting for its acknowledgement (the write of its changes,
 * relay/hub.ts `relay`): a busy sender's messages are relayed back to back and their
 * changes share writes. Acknowledgements still waiting count as queued, so a write
 * held up (a full disk) pauses the socket; one that fails closes it with 1011.
 */
import { next as A } from '@automerge/automerge'
import { cbor, generateAutomergeUrl, parseAutomergeUrl } from '@automerge/automerge-repo'
import { describe, expect, it, vi } from 'vitest'
import type { Violation } from '../src/access/rules.ts'
import type { RelayRoute } from '../src/network/server-adapter.ts'
import { FakeSocket, joinedAdapter } from './fake-socket.ts'

const documentId = parseAutomergeUrl(generateAutomergeUrl()).documentId
const data = A.encodeSyncMessage({ heads: [], need: [], have: [], changes: [] })

const connect = (relay: RelayRoute): FakeSocket => joinedAdapter({ relay }).socket

const sendSync = (socket: FakeSocket) => socket.emit('message', cbor.encode({ type: 'sync', senderId: 'alice-1', targetId: 'server', documentId, data }))

/** A relay whose acknowledgements settle only when the test says so. */
function heldRelay() {
  const relayed: number[] = []
  const settle: ((violation?: Violation | Error) => void)[] = []
  const relay: RelayRoute = {
    serves: () => true,
    relay: async () => {
      relayed.push(relayed.length)
      const acknowledged = new Promise<Violation | undefined>((resolve, reject) => settle.push(outcome => (outcome instanceof Error ? reject(outcome) : resolve(outcome))))
      return { acknowledged }
    },
  }
  return { relay, relayed, settle }
}

describe('acknowledgements after the relay', () => {
  it('tells a joining client that segments are relayed, so it may hold its acknowledgements of them', () => {
    const socket = connect(heldRelay().relay)
    const peer = socket.sent.map(frame => cbor.decode(frame) as { type: string; peerMetadata?: { relaysSegments?: boolean } }).find(frame => frame.type === 'peer')
    expect(peer?.peerMetadata?.relaysSegments).toBe(true)
  })

  it("relays a sender's next messages while the first one's acknowledgement waits", async () => {
    const { relay, relayed, settle } = heldRelay()
    const socket = connect(relay)
    for (let i = 0; i < 3; i++) sendSync(socket)
    await vi.waitFor(() => expect(relayed).toHaveLength(3))
    for (const done of settle) done()
    await new Promise(resolve => setTimeout(resolve, 10))
    expect(socket.closes).toEqual([])
  })

  it('pauses the socket while too many acknowledgements wait, and reads again once they are done', async () => {
    const { relay, relayed, settle } = heldRelay()
    const socket = connect(relay)
    for (let i = 0; i < 250; i++) sendSync(socket)
    await vi.waitFor(() => expect(relayed).toHaveLength(250))
    expect(socket.isPaused).toBe(true)
    for (const done of settle) done()
    await vi.waitFor(() => expect(socket.isPaused).toBe(false))
  })

  it('closes with the violation an acknowledgement brings, or with 1011 when its write fails', async () => {
    const refused = heldRelay()
    const first = connect(refused.relay)
    sendSync(first)
    await vi.waitFor(() => expect(refused.settle).toHaveLength(1))
    refused.settle[0]!({ code: 4403, reason: 'a change was refused' })
    await vi.waitFor(() => expect(first.closes).toEqual([{ code: 4403, reason: 'a change was refused' }]))

    const failing = heldRelay()
    const second = connect(failing.relay)
    sendSync(second)
    await vi.waitFor(() => expect(failing.settle).toHaveLength(1))
    failing.settle[0]!(new Error('IO error: disk gone'))
    await vi.waitFor(() => expect(second.closes).toEqual([{ code: 1011, reason: expect.stringContaining('disk gone') }]))
  })
})
