import type { DocumentId } from '@automerge/automerge-repo'
import { inboxDocumentId, initHead, initSegment, readInbox, removeMember, type HeadDoc, type InboxDoc, type SegmentDoc } from '@parley/core'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startTestServer } from '../src/testing.ts'
import { findWhenSynced, stockRepo, until } from './helpers.ts'

describe('inboxes kept by the server', () => {
  const dirs: string[] = []
  afterAll(() => Promise.all(dirs.map(dir => rm(dir, { recursive: true, force: true }))))

  it('gain a conversation its members were added to, lose it on removal, and survive a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-inbox-'))
    dirs.push(dataDir)
    let server = await startTestServer({ dataDir })
    const alice = await stockRepo(server, 'alice')
    const head = alice.repo.create<HeadDoc>()
    const segment = alice.repo.create<SegmentDoc>()
    segment.change(doc => initSegment(doc, head.documentId))
    head.change(doc => initHead(doc, { kind: 'group', title: 'team', creator: 'alice', members: ['bob', 'carol'], at: Date.now(), firstSegment: segment.documentId }))

    const bob = await stockRepo(server, 'bob')
    const bobsInbox = await findWhenSynced<InboxDoc>(bob, inboxDocumentId('bob'))
    await until(bobsInbox, doc => readInbox(doc).includes(head.documentId))
    const carol = await stockRepo(server, 'carol')
    const carolsInbox = await findWhenSynced<InboxDoc>(carol, inboxDocumentId('carol'))
    await until(carolsInbox, doc => readInbox(doc).includes(head.documentId))

    head.change(doc => removeMember(doc, 'carol'))
    await until(carolsInbox, doc => !readInbox(doc).includes(head.documentId))
    expect(readInbox(bobsInbox.doc())).toEqual([head.documentId])
    for (const client of [alice, bob, carol]) client.close()

    await server.close()
    server = await startTestServer({ dataDir })
    const bobAgain = await stockRepo(server, 'bob')
    const stored = await bobAgain.repo.find<InboxDoc>(inboxDocumentId('bob') as DocumentId)
    expect(readInbox(stored.doc())).toEqual([head.documentId])
    bobAgain.close()
    await server.close()
  })
})
