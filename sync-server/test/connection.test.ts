import { cbor, generateAutomergeUrl, parseAutomergeUrl, Repo } from '@automerge/automerge-repo'
import { next as Automerge } from '@automerge/automerge'
import { inboxDocumentId, readSegmentEvents, type SegmentDoc } from '@parley/core'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { startTestServer, type TestServer } from '../src/testing.ts'
import { appendMessage, createConversationDocs, findWhenSynced, RawClient, stockRepo, until } from './helpers.ts'

describe('WebSocket connections', () => {
  let server: TestServer
  beforeAll(async () => (server = await startTestServer({ maxFrameBytes: 64 * 1024 })))
  afterAll(() => server.close())

  /** A legitimate stock client still works: the server survived whatever came before. */
  async function serverStillServes(): Promise<void> {
    const writer = await stockRepo(server, 'alice')
    const reader = await stockRepo(server, 'bob')
    const { segment } = createConversationDocs(writer.repo, 'alice', ['bob'])
    const sent = appendMessage(segment, 'alice', 'still here')
    const found = await findWhenSynced<SegmentDoc>(reader, segment.documentId)
    await until(found, doc => readSegmentEvents(doc).events.some(event => event.id === sent.id))
    writer.close()
    reader.close()
  }

  it('closes a CBOR null frame with 4400 and keeps serving others', async () => {
    const client = await RawClient.open(server, 'mallory')
    client.sendBytes(Uint8Array.of(0xf6))
    expect((await client.closed).code).toBe(4400)
    await serverStillServes()
  })

  it('closes malformed frames with 4400: not CBOR, wrong shape, no join first, forged sender', async () => {
    const frames: ((client: RawClient) => Promise<void> | void)[] = [
      client => client.sendBytes(Uint8Array.of(0xff, 0x00, 0x13)),
      client => client.send([1, 2, 3]),
      client => client.send({ type: 'sync', senderId: 'mallory-peer', targetId: 'x', documentId: 'x', data: Uint8Array.of(1) }),
      async client => {
        await client.join('mallory-peer-2')
        client.send({ type: 'join', senderId: 'mallory-peer-2' })
      },
      async client => {
        const peer = await client.join('mallory-peer-3')
        const data = Automerge.encodeSyncMessage({ heads: [], need: [], have: [], changes: [] } as never)
        client.send({ type: 'sync', senderId: 'someone-else', targetId: peer.senderId, documentId: inboxDocumentId('nobody'), data })
      },
    ]
    for (const send of frames) {
      const client = await RawClient.open(server, 'mallory')
      await send(client)
      expect((await client.closed).code).toBe(4400)
    }
    await serverStillServes()
  })

  it('drops an ephemeral message a client passes on for another peer, without closing it', async () => {
    const client = await RawClient.open(server, 'alice')
    const peer = await client.join('alice-relay')
    client.send({ type: 'ephemeral', senderId: 'bob-device', targetId: peer.senderId, documentId: inboxDocumentId('alice'), count: 1, sessionId: 's', data: cbor.encode({ typing: true }) })
    client.send({ type: 'parley/heads-request', senderId: 'alice-relay', requestId: 1, documentIds: [] })
    await client.next(message => message.type === 'parley/heads')
    expect(client.socket.readyState).toBe(client.socket.OPEN)
    client.socket.close()
  })

  it('closes an oversized frame with 4413', async () => {
    const client = await RawClient.open(server, 'mallory')
    await client.join('big-peer')
    client.sendBytes(cbor.encode({ type: 'ephemeral', blob: new Uint8Array(65 * 1024) }))
    expect((await client.closed).code).toBe(4413)
    await serverStillServes()
  })

  it('scopes a peer ID to its user: another user holding it cannot lock its owner out (issue 13, item 7)', async () => {
    // Mallory learned bob's peer ID (relayed ephemeral messages carry it) and holds it while bob is offline.
    const mallory = await RawClient.open(server, 'mallory')
    await mallory.join('bob-laptop')
    // Bob connects with it: a stock client, which syncs a conversation he is a member of.
    const writer = await stockRepo(server, 'alice')
    const { segment } = createConversationDocs(writer.repo, 'alice', ['bob'])
    const sent = appendMessage(segment, 'alice', 'for bob')
    const bob = await stockRepo(server, 'bob', 'bob-laptop')
    const found = await findWhenSynced<SegmentDoc>(bob, segment.documentId)
    await until(found, doc => readSegmentEvents(doc).events.some(event => event.id === sent.id))
    // Neither displaced the other: mallory's socket is still open, and she got nothing of bob's.
    expect(mallory.socket.readyState).toBe(mallory.socket.OPEN)
    expect(mallory.received.filter(message => message.documentId === segment.documentId)).toEqual([])
    // A peer ID posing as the server's is still refused.
    const poser = await RawClient.open(server, 'mallory')
    await expect(poser.join(String(server.server.repo.peerId))).rejects.toThrow(/4403/)
    writer.close()
    bob.close()
    mallory.socket.close()
  })

  it('keeps nothing of a document nobody had once it answered doc-unavailable, and still sends it to whoever asked once its writer uploads it (issue 13, item 5)', async () => {
    // Alice wrote a conversation offline: the server has never seen it.
    const offline = new Repo({})
    const { head } = createConversationDocs(offline, 'alice', ['bob'])
    const saved = Automerge.save(head.doc())
    const bob = await stockRepo(server, 'bob')
    await expect(bob.repo.find(head.documentId)).rejects.toThrow(/unavailable/)
    // automerge-repo created a handle for the request; answered, it is dropped.
    await vi.waitFor(() => expect(server.server.repo.handles[head.documentId]).toBeUndefined())
    const alice = await stockRepo(server, 'alice')
    alice.repo.import(saved, { docId: head.documentId })
    // The server remembered who asked: bob's unavailable handle becomes ready without asking again.
    await bob.repo.handles[head.documentId]!.whenReady()
    expect(bob.repo.handles[head.documentId]!.doc()).toEqual(head.doc())
    alice.close()
    bob.close()
  })

  it('gives up a document a connected client claims and never sends, with no unhandled rejection (issue 13, item 5)', async () => {
    const client = await RawClient.open(server, 'mallory')
    const { senderId: serverId } = await client.join('mallory-claims')
    const documentId = parseAutomergeUrl(generateAutomergeUrl()).documentId
    const rejections: unknown[] = []
    const onRejection = (reason: unknown): number => rejections.push(reason)
    process.on('unhandledRejection', onRejection)
    try {
      // "I have this document": the server asks for it, and nothing ever comes.
      const data = Automerge.encodeSyncMessage({ heads: ['ab'.repeat(32)], need: [], have: [], changes: [] } as never)
      client.send({ type: 'request', senderId: 'mallory-claims', targetId: serverId, documentId, data })
      await vi.waitFor(() => expect(server.server.repo.handles[documentId as never]?.state).toBe('requesting'))
      // Still connected, still claiming: the handle is given up after the request timeout (10 s unused).
      await vi.waitFor(() => expect(server.server.repo.handles[documentId as never]).toBeUndefined(), { timeout: 30_000, interval: 500 })
      expect(client.socket.readyState).toBe(client.socket.OPEN)
      expect(rejections).toEqual([])
    } finally {
      process.off('unhandledRejection', onRejection)
      client.socket.close()
    }
  }, 60_000)

  it('lets the same user reconnect with the same peer ID, replacing the old socket', async () => {
    const first = await RawClient.open(server, 'alice')
    await first.join('alice-phone')
    const second = await RawClient.open(server, 'alice')
    const peer = await second.join('alice-phone')
    expect(peer).toMatchObject({ type: 'peer', selectedProtocolVersion: '1', peerMetadata: { storageId: expect.any(String) } })
    expect((await first.closed).code).toBe(1000)
    second.socket.close()
  })

  it('answers a heads request with the server’s heads, null for documents it lacks', async () => {
    const writer = await stockRepo(server, 'alice')
    const { head: handle } = createConversationDocs(writer.repo, 'alice', ['bob'])
    const reader = await stockRepo(server, 'bob')
    await findWhenSynced(reader, handle.documentId)
    const client = await RawClient.open(server, 'alice')
    await client.join('alice-heads')
    const unknown = inboxDocumentId('nobody')
    client.send({ type: 'parley/heads-request', senderId: 'alice-heads', requestId: 9, documentIds: [handle.documentId, unknown] })
    const reply = await client.next(message => message.type === 'parley/heads')
    expect(reply).toMatchObject({ requestId: 9, heads: { [handle.documentId]: [...handle.heads()], [unknown]: null } })
    writer.close()
    reader.close()
    client.socket.close()
  })
})
