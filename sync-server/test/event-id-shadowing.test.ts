/**
 * Event-ID shadowing (docs/security.md): replicas keep the first of events sharing an ID
 * (core sortUnique, by clock), so a member copying another member's event ID with an
 * earlier `at` would hide that message everywhere. The server refuses such an event
 * (4403), in the same segment and in another segment of the conversation, whether the
 * ID is bound to its author (core eventId) or not, with the server sequence in LevelDB and
 * in PostgreSQL (where the check skips the lookup, a round trip, for an ID bound to its
 * event's author, and only for that author).
 */
import type { DocHandle } from '@automerge/automerge-repo'
import { appendEvent, eventId, initSegment, readSegmentEvents, type HeadDoc, type MessageEvent, type SegmentDoc } from '@parley/core'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { EventIndex } from '../src/events/event-index.ts'
import { createTestDatabase, startTestServer, type PostgresTestDatabase, type TestServer } from '../src/testing.ts'
import { appendMessage, createConversationDocs, findWhenSynced, stockRepo, until, type StockClient } from './helpers.ts'

describe.each(['LevelDB', 'PostgreSQL'])('event IDs are one author’s (%s)', backend => {
  let server: TestServer
  let database: PostgresTestDatabase | undefined
  const clients: StockClient[] = []
  beforeAll(async () => {
    if (backend === 'PostgreSQL') database = await createTestDatabase()
    server = await startTestServer(database ? { postgres: database.url } : {})
  })
  afterAll(async () => {
    for (const client of clients) client.close()
    await server?.close()
    await database?.drop()
  })

  async function connect(user: string): Promise<StockClient> {
    const client = await stockRepo(server, user)
    clients.push(client)
    return client
  }

  /** Alice's group with Bob and one message from Alice, which Bob has and the server has numbered. */
  async function conversation() {
    const alice = await connect('alice')
    const { head, segment } = createConversationDocs(alice.repo, 'alice', ['bob'], 'team')
    const first = appendMessage(segment, 'alice', 'the deploy is at 5')
    const bob = await connect('bob')
    await findWhenSynced<HeadDoc>(bob, head.documentId)
    const bobSegment = await findWhenSynced<SegmentDoc>(bob, segment.documentId)
    await until(bobSegment, doc => readSegmentEvents(doc).events.length === 1)
    await numbered(head.documentId, first.id)
    return { alice, bob, head, segment, bobSegment, first }
  }

  /** Waits (bounded) until the server sequence has the event. */
  async function numbered(conversationId: string, eventId: string): Promise<void> {
    const authorization = `Bearer ${await server.token('alice')}`
    for (let attempt = 0; attempt < 200; attempt++) {
      const response = await server.server.app.inject({ method: 'GET', url: `/v1/conversations/${conversationId}/events?after=0`, headers: { authorization } })
      if (response.statusCode === 200 && response.json().events.some((e: { id: string }) => e.id === eventId)) return
      await new Promise(resolve => setTimeout(resolve, 10))
    }
    throw new Error(`event ${eventId} was never numbered`)
  }

  const shadow = (original: MessageEvent): MessageEvent => ({ id: original.id, type: 'message', author: 'bob', device: 'bob-device', at: original.at - 60_000, text: 'the deploy is cancelled' })
  const stored = async (handle: DocHandle<SegmentDoc>) => (await server.server.storedDoc<SegmentDoc>(handle.documentId))!

  it('refuses an event copying another author’s event ID into the same segment', async () => {
    const { bob, segment, bobSegment, first } = await conversation()
    bobSegment.change(doc => appendEvent(doc, shadow(first)))
    expect(await bob.closed).toEqual({ code: 4403, reason: expect.stringMatching(`event ID ${first.id} is already alice’s event`) })
    const events = readSegmentEvents(await stored(segment)).events
    expect(events.filter(event => event.id === first.id).map(event => event.author)).toEqual(['alice'])
  })

  it('refuses it in a new segment of the conversation too', async () => {
    const { bob, head, first } = await conversation()
    const other = bob.repo.create<SegmentDoc>()
    other.change(doc => {
      initSegment(doc, head.documentId)
      appendEvent(doc, shadow(first))
    })
    expect(await bob.closed).toEqual({ code: 4403, reason: expect.stringMatching(`event ID ${first.id} is already alice’s event`) })
    expect(await server.server.storedDoc(other.documentId)).toBeUndefined()
  })

  /** Alice's message under an ID bound to her, as clients make them (core eventId). */
  const boundMessage = (text: string): MessageEvent => ({ id: eventId('alice'), type: 'message', author: 'alice', device: 'alice-device', at: Date.now(), text })

  it('refuses a copy of an ID bound to its author (core eventId, as clients make them)', async () => {
    const { bob, head, segment, bobSegment } = await conversation()
    const bound = boundMessage('the deploy is at 6')
    segment.change(doc => appendEvent(doc, bound))
    await until(bobSegment, doc => readSegmentEvents(doc).events.some(event => event.id === bound.id))
    await numbered(head.documentId, bound.id)
    const other = bob.repo.create<SegmentDoc>()
    other.change(doc => {
      initSegment(doc, head.documentId)
      appendEvent(doc, shadow(bound))
    })
    expect(await bob.closed).toEqual({ code: 4403, reason: expect.stringMatching(`event ID ${bound.id} is already alice’s event`) })
  })

  // On PostgreSQL a lookup is a round trip before the relay; on LevelDB a local read the numbering makes anyway.
  // The check asks the index (EventIndex.seqOf); the numbering asks its store directly.
  it(`looks up an ID bound to its event’s author ${backend === 'PostgreSQL' ? 'never' : 'as any other'}`, async () => {
    const { head, segment } = await conversation()
    const lookups = vi.spyOn(EventIndex.prototype, 'seqOf')
    const bound = boundMessage('and the retro at 6')
    segment.change(doc => appendEvent(doc, bound))
    await numbered(head.documentId, bound.id)
    expect(lookups.mock.calls.some(([, id]) => id === bound.id)).toBe(backend === 'LevelDB')
    lookups.mockRestore()
  })

  it('still lets an author write their own events', async () => {
    const { alice, bob, segment, bobSegment } = await conversation()
    const reply = appendMessage(bobSegment, 'bob', 'ok')
    await until(segment, doc => readSegmentEvents(doc).events.some(event => event.id === reply.id))
    expect(await Promise.race([bob.closed, alice.closed, Promise.resolve('open')])).toBe('open')
  })
})
