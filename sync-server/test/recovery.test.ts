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
import { startTestServer, type TestServer } from '../src/testing.ts'
import { findWhenSynced, stockRepo, until, type StockClient } from './helpers.ts'

const newId = (): DocumentId => parseAutomergeUrl(generateAutomergeUrl()).documentId

describe('documents registered but never saved', () => {
  const cleanup: (() => unknown)[] = []
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step()
  })

  async function serverWithLostConversation(): Promise<{ server: TestServer; headId: DocumentId; segmentId: DocumentId; head: Automerge.Doc<HeadDoc>; segment: Automerge.Doc<SegmentDoc> }> {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-recovery-'))
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }))
    const headId = newId()
    const segmentId = newId()
    const registry = await AccessRegistry.open(join(dataDir, 'acl'))
    await registry.register(headId, { type: 'head', members: { alice: 'owner', bob: 'member' } })
    await registry.register(segmentId, { type: 'segment', conversation: headId, creator: 'alice' })
    await registry.close()
    const segment = Automerge.change(Automerge.init<SegmentDoc>(), doc => {
      initSegment(doc, headId)
      appendEvent(doc, { id: 'kept', type: 'message', author: 'alice', device: 'phone', at: 1, text: 'kept' })
    })
    const head = Automerge.change(Automerge.init<HeadDoc>(), doc =>
      initHead(doc, { kind: 'group', title: '', creator: 'alice', members: ['bob'], at: 1, firstSegment: segmentId }),
    )
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
    const copy = await findWhenSynced<SegmentDoc>(bob.repo, segmentId)
    await until(copy, doc => readSegmentEvents(doc).events.length === 1)
    expect(readSegmentEvents(copy.doc()).events[0]).toMatchObject({ id: 'kept', author: 'alice' })
  })

  it('refuses anyone else using the registered IDs', async () => {
    const { server, headId, segmentId } = await serverWithLostConversation()
    const bob = await connect(server, 'bob')
    const own = Automerge.change(Automerge.init<SegmentDoc>(), doc => initSegment(doc, headId))
    bob.repo.import(Automerge.save(own), { docId: segmentId })
    expect(await bob.closed).toMatchObject({ code: 4403, reason: 'this document ID is already registered' })
  })
})
