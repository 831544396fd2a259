/**
 * The server may be killed after recording who owns a new document but before saving
 * it. Its creator re-sends it on reconnect and must be let in; nobody else may use the
 * registered ID.
 */
import { next as Automerge } from '@automerge/automerge'
import { generateAutomergeUrl, parseAutomergeUrl, type DocumentId } from '@automerge/automerge-repo'
import { appendEvent, initHead, initSegment, readSegmentEvents, type HeadDoc, type SegmentDoc } from '@parley/core'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { AccessRegistry } from '../src/access/registry.ts'
import { openDatabases } from '../src/storage/databases.ts'
import { startTestServer, type TestServer } from '../src/testing.ts'
import { findWhenSynced, stockRepo, until, type StockClient } from './helpers.ts'

const newId = (): DocumentId => parseAutomergeUrl(generateAutomergeUrl()).documentId

describe('documents registered but never saved', () => {
  const cleanup: (() => unknown)[] = []
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step()
  })

  async function serverWithLostConversation(options: { acceptedFromAlice?: boolean } = {}): Promise<{ server: TestServer; headId: DocumentId; segmentId: DocumentId; head: Automerge.Doc<HeadDoc>; segment: Automerge.Doc<SegmentDoc> }> {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-recovery-'))
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }))
    const headId = newId()
    const segmentId = newId()
    const databases = await openDatabases(dataDir, { retryMs: 1000, maxHeldBytes: 1024 * 1024, minFreeBytes: 0 })
    const registry = new AccessRegistry(databases.registry)
    await registry.register(headId, { type: 'head', members: { alice: 'owner', bob: 'member' } })
    await registry.register(segmentId, { type: 'segment', conversation: headId, creator: 'alice' })
    const segment = Automerge.change(Automerge.init<SegmentDoc>(), doc => {
      initSegment(doc, headId)
      appendEvent(doc, { id: 'kept', type: 'message', author: 'alice', device: 'phone', at: 1, text: 'kept' })
    })
    const head = Automerge.change(Automerge.init<HeadDoc>(), doc =>
      initHead(doc, { kind: 'group', title: '', creator: 'alice', members: ['bob'], at: 1, firstSegment: segmentId }),
    )
    if (options.acceptedFromAlice) {
      // What the server recorded when Alice sent these, before it crashed unsaved.
      for (const doc of [segment, head] as Automerge.Doc<unknown>[]) {
        await registry.bindActor(Automerge.getActorId(doc), 'alice')
        await registry.accept(Automerge.getAllChanges(doc).map(change => Automerge.decodeChange(change).hash))
      }
    }
    await databases.close()
    const server = await startTestServer({ dataDir })
    cleanup.push(() => server.close())
    return { server, headId, segmentId, head, segment }
  }

  async function connect(server: TestServer, user: string): Promise<StockClient> {
    const client = await stockRepo(server, user)
    cleanup.push(() => client.close())
    return client
  }

  it('lets the creator re-send them', async () => {
    const { server, headId, segmentId, head, segment } = await serverWithLostConversation()
    const alice = await connect(server, 'alice')
    alice.repo.import(Automerge.save(segment), { docId: segmentId })
    alice.repo.import(Automerge.save(head), { docId: headId })
    const bob = await connect(server, 'bob')
    const copy = await findWhenSynced<SegmentDoc>(bob, segmentId)
    await until(copy, doc => readSegmentEvents(doc).events.length === 1)
    expect(readSegmentEvents(copy.doc()).events[0]).toMatchObject({ id: 'kept', author: 'alice' })
  })

  it('lets a member restore another member’s changes the server had accepted, with their own on top', async () => {
    const { server, headId, segmentId, head, segment } = await serverWithLostConversation({ acceptedFromAlice: true })
    const bob = await connect(server, 'bob')
    bob.repo.import(Automerge.save(head), { docId: headId })
    const bobs = bob.repo.import<SegmentDoc>(Automerge.save(segment), { docId: segmentId })
    bobs.change(doc => appendEvent(doc, { id: 'reply', type: 'message', author: 'bob', device: 'laptop', at: 2, text: 'reply' }))
    const alice = await connect(server, 'alice')
    const copy = await findWhenSynced<SegmentDoc>(alice, segmentId)
    await until(copy, doc => readSegmentEvents(doc).events.length === 2)
    expect(readSegmentEvents(copy.doc()).events.map(event => event.id)).toEqual(['kept', 'reply'])
    expect(await Promise.race([bob.closed, Promise.resolve('open')])).toBe('open')
  })

  it('refuses anyone else using the registered IDs', async () => {
    const { server, headId, segmentId } = await serverWithLostConversation()
    const bob = await connect(server, 'bob')
    const own = Automerge.change(Automerge.init<SegmentDoc>(), doc => initSegment(doc, headId))
    bob.repo.import(Automerge.save(own), { docId: segmentId })
    expect(await bob.closed).toMatchObject({ code: 4403, reason: 'this document ID is already registered' })
  })
})
