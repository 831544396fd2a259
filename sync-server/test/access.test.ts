/**
 * Each attack a member or an outsider can try with a stock automerge-repo client: the
 * connection is closed with 4403 and nothing of the message reaches the server's copy
 * or any other client.
 */
import type { DocHandle, DocumentId } from '@automerge/automerge-repo'
import { addMember, addSegment, initHead, readHead, readSegmentEvents, scalar, setReadCursor, setTitle, type HeadDoc, type SegmentDoc } from '@parley/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, withTimeout, type TestServer } from '../src/testing.ts'
import { next as Automerge } from '@automerge/automerge'
import { appendMessage, createConversationDocs, findWhenSynced, RawClient, stockRepo, syncMessageWithAllChanges, until, type StockClient } from './helpers.ts'

describe('access control and author binding', () => {
  let server: TestServer
  const clients: StockClient[] = []
  beforeAll(async () => (server = await startTestServer()))
  afterAll(async () => {
    for (const client of clients) client.close()
    await server.close()
  })

  async function connect(user: string): Promise<StockClient> {
    const client = await stockRepo(server, user)
    clients.push(client)
    return client
  }

  /** Alice's group with Bob, one message from Alice, and Bob's replica of it. */
  async function conversation() {
    const alice = await connect('alice')
    const { head, segment } = createConversationDocs(alice.repo, 'alice', ['bob'], 'team')
    const first = appendMessage(segment, 'alice', 'hello')
    const bob = await connect('bob')
    const bobHead = await findWhenSynced<HeadDoc>(bob, head.documentId)
    const bobSegment = await findWhenSynced<SegmentDoc>(bob, segment.documentId)
    await until(bobSegment, doc => readSegmentEvents(doc).events.length === 1)
    return { alice, bob, head, segment, bobHead, bobSegment, first }
  }

  /** The server's own copy of a document (a segment from the relay core's log, a head from the repo). */
  async function stored<T>(handle: DocHandle<T>): Promise<T> {
    const doc = await server.server.storedDoc<T>(handle.documentId)
    if (doc === undefined) throw new Error(`the server holds no copy of ${handle.documentId}`)
    return doc
  }

  /** Waits (bounded) until the server's copy satisfies `predicate`. */
  async function untilStored<T>(handle: DocHandle<T>, predicate: (doc: T) => boolean): Promise<void> {
    for (let attempt = 0; attempt < 500; attempt++) {
      const doc = await server.server.storedDoc<T>(handle.documentId)
      if (doc !== undefined && predicate(doc)) return
      await new Promise(resolve => setTimeout(resolve, 10))
    }
    throw new Error(`the server's copy of ${handle.documentId} never got there`)
  }

  const serverPeerId = (): string => server.server.repo.peerId

  const stillOpen = (client: StockClient) => Promise.race([client.closed, Promise.resolve('open')])
  const refused = (reason: RegExp) => ({ code: 4403, reason: expect.stringMatching(reason) })

  /** The next sync message `client` sends about `documentId`, decoded. */
  function nextSyncMessage(client: StockClient, documentId: DocumentId): Promise<Automerge.DecodedSyncMessage> {
    const { synchronizer } = client.repo
    return new Promise(resolve => {
      const listener = (message: { type: string; documentId?: string; data?: Uint8Array }): void => {
        if (message.type !== 'sync' || message.documentId !== documentId || !message.data) return
        synchronizer.off('message', listener)
        resolve(Automerge.decodeSyncMessage(message.data))
      }
      synchronizer.on('message', listener)
    })
  }

  it('lets a member append their own messages, and relays them', async () => {
    const { alice, bobSegment, segment } = await conversation()
    const reply = appendMessage(bobSegment, 'bob', 'hi alice')
    await until(segment, doc => readSegmentEvents(doc).events.some(event => event.id === reply.id))
    expect(await stillOpen(alice)).toBe('open')
  })

  it('refuses an event whose author is someone else (forged author)', async () => {
    const { bob, bobSegment, segment } = await conversation()
    const forged = appendMessage(bobSegment, 'alice', 'I owe bob money')
    expect(await bob.closed).toEqual(refused(/names alice as author/))
    expect(readSegmentEvents(await stored(segment)).events.map(event => event.id)).not.toContain(forged.id)
    expect(readSegmentEvents(segment.doc()).events.map(event => event.id)).not.toContain(forged.id)
  })

  it('refuses editing the stored text of someone else’s event', async () => {
    const { bob, bobSegment, segment, first } = await conversation()
    bobSegment.change(doc => (doc.events[0] = scalar(JSON.stringify({ ...first, text: 'rewritten' }))))
    expect(await bob.closed).toEqual(refused(/append-only/))
    expect(readSegmentEvents(await stored(segment)).events).toEqual([first])
  })

  it('refuses deleting an event', async () => {
    const { bob, bobSegment, segment, first } = await conversation()
    bobSegment.change(doc => doc.events.splice(0, 1))
    expect(await bob.closed).toEqual(refused(/append-only/))
    expect(readSegmentEvents(await stored(segment)).events).toEqual([first])
  })

  it('refuses a segment ID that is not one of this conversation’s segments', async () => {
    const { bob, bobHead, head } = await conversation()
    const other = await conversation()
    // Another conversation's segment (Bob is a member there too): not this conversation's.
    const foreign = readHead(other.head.doc()).segments[0]!
    bobHead.change(doc => addSegment(doc, foreign))
    expect(await bob.closed).toEqual(refused(/not a segment of this conversation/))
    expect(readHead(await stored(head)).segments).toEqual(readHead(head.doc()).segments)
  })

  it('refuses a segment ID naming a document of another kind (the head itself)', async () => {
    const { bob, bobHead, head } = await conversation()
    bobHead.change(doc => addSegment(doc, head.documentId))
    expect(await bob.closed).toEqual(refused(/not a segment of this conversation/))
    expect(readHead(await stored(head)).segments).toHaveLength(1)
  })

  it.each([
    ['promoting themselves', /may not change roles/, (doc: HeadDoc) => (doc.members.bob!.role = scalar('owner'))],
    ['renaming the conversation', /may not change the title/, (doc: HeadDoc) => setTitle(doc, 'mine now')],
    ['adding a member', /may not add members/, (doc: HeadDoc) => addMember(doc, 'mallory', 'member', 'bob', Date.now())],
    ['removing the owner', /may not remove alice/, (doc: HeadDoc) => delete doc.members.alice],
    ['moving the owner’s read cursor', /read cursor of alice/, (doc: HeadDoc) => setReadCursor(doc, { id: 'r1', type: 'read', author: 'alice', device: 'x', at: 1, target: 'e' })],
    ['changing the kind', /field kind may not be changed/, (doc: HeadDoc) => (doc.kind = scalar('channel'))],
  ])('refuses a plain member %s', async (_name, reason, change) => {
    const { bob, bobHead, head } = await conversation()
    const before = readHead(await stored(head))
    bobHead.change(change)
    expect(await bob.closed).toEqual(refused(reason))
    expect(readHead(await stored(head))).toEqual(before)
  })

  it('lets an owner promote a member to admin, and an admin add members but not owners', async () => {
    const { alice, bob, head, bobHead } = await conversation()
    head.change(doc => (doc.members.bob!.role = scalar('admin')))
    await until(bobHead, doc => readHead(doc).members.bob?.role === 'admin')
    bobHead.change(doc => addMember(doc, 'carol', 'member', 'bob', Date.now()))
    await untilStored(head, doc => 'carol' in doc.members)
    bobHead.change(doc => setTitle(doc, 'renamed by an admin'))
    await untilStored(head, doc => readHead(doc).title === 'renamed by an admin')
    bobHead.change(doc => addMember(doc, 'dave', 'owner', 'bob', Date.now()))
    expect(await bob.closed).toEqual(refused(/only an owner may add owners/))
    expect(readHead(await stored(head)).members).not.toHaveProperty('dave')
    expect(await stillOpen(alice)).toBe('open')
  })

  it('does not let an admin remove the owner', async () => {
    const { bob, head, bobHead } = await conversation()
    head.change(doc => (doc.members.bob!.role = scalar('admin')))
    await until(bobHead, doc => readHead(doc).members.bob?.role === 'admin')
    bobHead.change(doc => delete doc.members.alice)
    expect(await bob.closed).toEqual(refused(/may not remove alice/))
    expect(readHead(await stored(head)).members).toHaveProperty('alice')
  })

  it('lets a member move their own read cursor and leave', async () => {
    const { alice, bobHead, head, first } = await conversation()
    bobHead.change(doc => setReadCursor(doc, { id: 'r-bob', type: 'read', author: 'bob', device: 'bob-device', at: Date.now(), target: first.id }))
    await until(head, doc => readHead(doc).reads.bob?.target === first.id)
    bobHead.change(doc => delete doc.members.bob)
    await until(head, doc => !('bob' in readHead(doc).members))
    expect(await stillOpen(alice)).toBe('open')
  })

  it('keeps outsiders out: no read, no write, no registering a segment for the conversation', async () => {
    const { head, segment } = await conversation()
    const mallory = await connect('mallory')
    await expect(mallory.repo.find(head.documentId)).rejects.toThrow(/unavailable/)
    const fake = mallory.repo.create<SegmentDoc>()
    fake.change(doc => {
      doc.type = scalar('parley/segment')
      doc.conversation = scalar(head.documentId)
      doc.events = []
    })
    expect(await mallory.closed).toEqual(refused(/not a member of this conversation/))
    expect(readHead(await stored(head)).segments).toEqual([segment.documentId])
  })

  it('does not let anyone claim a registered document ID', async () => {
    const { head } = await conversation()
    // Mallory's own head, offered under Alice's conversation ID in a hand-built sync message.
    const own = Automerge.change(Automerge.init<HeadDoc>(), doc =>
      initHead(doc, { kind: 'group', title: 'mine', creator: 'mallory', members: [], at: Date.now(), firstSegment: head.documentId }),
    )
    const mallory = await RawClient.open(server, 'mallory')
    await mallory.join('mallory-raw')
    mallory.send({ type: 'sync', senderId: 'mallory-raw', targetId: serverPeerId(), documentId: head.documentId, data: syncMessageWithAllChanges(own) })
    expect(await mallory.closed).toEqual(refused(/not a member of this conversation/))
    expect(readHead(await stored(head)).createdBy).toBe('alice')
  })

  it('takes a removed member out at once: nothing new reaches them and their writes are refused', async () => {
    const { alice, bob, head, segment, bobSegment } = await conversation()
    head.change(doc => delete doc.members.bob)
    await untilStored(head, doc => !('bob' in doc.members))
    const secret = appendMessage(segment, 'alice', 'after bob left')
    // A later message from Alice reaches the server...
    await untilStored(segment, doc => readSegmentEvents(doc).events.some(event => event.id === secret.id))
    // ...but not Bob, whose next write is refused. His client's sync message carries the write
    // unless its hash is a false positive of the Bloom filter in the server's last message to
    // him (about one write in a hundred): then it names the write in its heads only, and a peer
    // who may not read the segment is told it is unavailable rather than asked for the change,
    // as after every reconnect of theirs (refusing would close each one).
    const sent = nextSyncMessage(bob, segment.documentId)
    const write = appendMessage(bobSegment, 'bob', 'still here?')
    const carried = (await withTimeout(sent, 20_000, "Bob's client sending his write")).changes.length > 0
    const handled = await withTimeout(bob.settled(), 20_000, "the server handling Bob's write after his removal")
    expect(handled).toEqual(carried ? refused(/not a member of this conversation/) : 'answered')
    expect(readSegmentEvents(bobSegment.doc()).events.map(event => event.id)).not.toContain(secret.id)

    // Both kinds of message, sent explicitly: the write named in the heads only, then carried.
    const raw = await RawClient.open(server, 'bob')
    await raw.join('bob-raw')
    const send = (data: Uint8Array) => raw.send({ type: 'sync', senderId: 'bob-raw', targetId: serverPeerId(), documentId: segment.documentId, data })
    send(Automerge.encodeSyncMessage({ heads: Automerge.getHeads(bobSegment.doc()), need: [], have: [], changes: [] }))
    await withTimeout(raw.next(message => message.type === 'doc-unavailable' && message.documentId === segment.documentId), 20_000, 'the server answering heads it lacks')
    send(syncMessageWithAllChanges(bobSegment.doc()))
    expect(await withTimeout(raw.closed, 20_000, "the server refusing Bob's write")).toEqual(refused(/not a member of this conversation/))
    expect(readSegmentEvents(await stored(segment)).events.map(event => event.id)).not.toContain(write.id)
    expect(readSegmentEvents(segment.doc()).events.map(event => event.id)).not.toContain(write.id)
    expect(await stillOpen(alice)).toBe('open')
  })
})
