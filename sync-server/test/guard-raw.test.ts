/**
 * The same attacks with hand-built wire messages, which no client library would send:
 * changes under another user's actor, corrupt change bytes, ephemeral messages into a
 * conversation the sender is not in, and what a removed member still receives.
 */
import { next as Automerge } from '@automerge/automerge'
import type { DocHandle } from '@automerge/automerge-repo'
import { appendEvent, type HeadDoc, type SegmentDoc } from '@parley/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from '../src/testing.ts'
import { appendMessage, createConversationDocs, findWhenSynced, RawClient, stockRepo, until, type StockClient } from './helpers.ts'

describe('hand-built messages', () => {
  let server: TestServer
  const clients: StockClient[] = []
  beforeAll(async () => (server = await startTestServer()))
  afterAll(async () => {
    for (const client of clients) client.close()
    await server.close()
  })

  const serverPeerId = (): string => server.server.repo.peerId

  /** Alice's conversation with Bob (and Carol), made and synced through a stock client. */
  async function conversation(members = ['bob']): Promise<{ alice: StockClient; head: DocHandle<HeadDoc>; segment: DocHandle<SegmentDoc> }> {
    const alice = await stockRepo(server, 'alice')
    clients.push(alice)
    const { head, segment } = createConversationDocs(alice.repo, 'alice', members)
    appendMessage(segment, 'alice', 'hello')
    // The server has both once another member can find them.
    const probe = await stockRepo(server, members[0]!)
    clients.push(probe)
    await findWhenSynced(probe, head.documentId)
    const copy = await findWhenSynced<SegmentDoc>(probe, segment.documentId)
    await until(copy, doc => doc.events.length === 1)
    return { alice, head, segment }
  }

  /** Bob's raw connection, and a sync message carrying `changes` for a document. */
  async function rawBob(user = 'bob'): Promise<{ client: RawClient; sendChanges(documentId: string, changes: Uint8Array[]): void }> {
    const client = await RawClient.open(server, user)
    const peerId = `${user}-raw-${Math.random().toString(36).slice(2)}`
    await client.join(peerId)
    return {
      client,
      sendChanges(documentId, changes) {
        const data = Automerge.encodeSyncMessage({ heads: [], need: [], have: [], changes })
        client.send({ type: 'sync', senderId: peerId, targetId: serverPeerId(), documentId, data })
      },
    }
  }

  const newChanges = (before: Automerge.Doc<unknown>, after: Automerge.Doc<unknown>): Uint8Array[] => Automerge.getChanges(before, after)

  it('refuses an event forged in a hand-built sync message', async () => {
    const { segment } = await conversation()
    const base = Automerge.load<SegmentDoc>(Automerge.save(segment.doc()))
    const forged = Automerge.change(base, doc => appendEvent(doc, { id: 'forged', type: 'message', author: 'alice', device: 'x', at: Date.now(), text: 'hi' }))
    const bob = await rawBob()
    bob.sendChanges(segment.documentId, newChanges(base, forged))
    expect(await bob.client.closed).toMatchObject({ code: 4403, reason: expect.stringMatching(/names alice as author/) })
  })

  it('refuses a change made under another user’s actor', async () => {
    const { segment } = await conversation()
    const aliceActor = Automerge.getActorId(segment.doc())
    // Bob's own event, but written as Alice's device: the actor belongs to Alice.
    const base = Automerge.load<SegmentDoc>(Automerge.save(segment.doc()), { actor: aliceActor })
    const stolen = Automerge.change(base, doc => appendEvent(doc, { id: 'stolen', type: 'message', author: 'bob', device: 'x', at: Date.now(), text: 'hi' }))
    const bob = await rawBob()
    bob.sendChanges(segment.documentId, newChanges(base, stolen))
    expect(await bob.client.closed).toMatchObject({ code: 4403, reason: expect.stringMatching(/belongs to another user/) })
  })

  it('closes with 4400 on corrupt change bytes', async () => {
    const { segment } = await conversation()
    const base = Automerge.load<SegmentDoc>(Automerge.save(segment.doc()))
    const next = Automerge.change(base, doc => appendEvent(doc, { id: 'ok', type: 'message', author: 'bob', device: 'x', at: Date.now(), text: 'hi' }))
    const change = newChanges(base, next)[0]!.slice()
    const at = change.length - 3
    change[at] = change[at]! ^ 0xff
    const bob = await rawBob()
    bob.sendChanges(segment.documentId, [change])
    expect((await bob.client.closed).code).toBe(4400)
  })

  it('refuses ephemeral messages into a conversation the sender is not in', async () => {
    const { head } = await conversation()
    const mallory = await rawBob('mallory')
    const peerId = (mallory.client.received.find(message => message.type === 'peer')!.targetId as string) ?? ''
    mallory.client.send({ type: 'ephemeral', senderId: peerId, targetId: serverPeerId(), documentId: head.documentId, count: 1, sessionId: 's', data: new Uint8Array([0xa0]) })
    expect(await mallory.client.closed).toMatchObject({ code: 4403, reason: expect.stringMatching(/not a member/) })
  })

  it('sends a removed member nothing more, ephemeral messages included', async () => {
    const { alice, head } = await conversation(['carol', 'bob'])
    const carol = await stockRepo(server, 'carol')
    clients.push(carol)
    const carolsHead = await findWhenSynced<HeadDoc>(carol, head.documentId)
    // Bob subscribes to the head over a raw socket, then is removed.
    const bob = await rawBob()
    const bobPeer = bob.client.received.find(message => message.type === 'peer')!.targetId as string
    const [, request] = Automerge.generateSyncMessage(Automerge.init(), Automerge.initSyncState())
    bob.client.send({ type: 'request', senderId: bobPeer, targetId: serverPeerId(), documentId: head.documentId, data: request })
    await bob.client.next(message => message.type === 'sync' && message.documentId === head.documentId)
    head.change(doc => delete doc.members.bob)
    await until(carolsHead, doc => !('bob' in doc.members))
    const typing = new Promise(resolve => carolsHead.on('ephemeral-message', resolve))
    head.broadcast({ typing: true })
    await typing
    const receivedBefore = bob.client.received.length
    // Anything sent to Bob before this reply would arrive before it.
    bob.client.send({ type: 'parley/heads-request', senderId: bobPeer, requestId: 1, documentIds: [head.documentId] })
    const reply = await bob.client.next(message => message.type === 'parley/heads')
    expect(reply.heads).toEqual({ [head.documentId]: null })
    const after = bob.client.received.slice(receivedBefore)
    expect(after.filter(message => message.documentId === head.documentId)).toEqual([])
    expect(alice).toBeDefined()
  })
})
