/**
 * Inbox ID squatting (docs/security.md): a user must not be able to occupy another
 * user's inbox ID, and a data directory whose inboxes sit under the legacy IDs keeps them.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { next as Automerge } from '@automerge/automerge'
import { Repo, type DocumentId } from '@automerge/automerge-repo'
import { addToInbox, inboxDocumentId, inboxGenesis, initHead, initSegment, isInboxNamespaceId, legacyInboxDocumentId, type HeadDoc, type InboxDoc, type SegmentDoc } from '@parley/core'
import { afterEach, describe, expect, it } from 'vitest'
import { AccessRegistry } from '../src/access/registry.ts'
import { openDatabases } from '../src/storage/databases.ts'
import { startTestServer, type TestServer } from '../src/testing.ts'
import { RawClient, syncMessageWithAllChanges } from './helpers.ts'

const servers: TestServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map(server => server.close()))
})

async function http(server: TestServer, user: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${server.httpUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${await server.token(user)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { status: response.status, json: await response.json() }
}

function squatHead(creator: string, firstSegment: string): Automerge.Doc<HeadDoc> {
  return Automerge.change(Automerge.init<HeadDoc>(), doc => initHead(doc, { kind: 'group', title: 'squat', creator, members: [], at: Date.now(), firstSegment }))
}

describe('inbox IDs', () => {
  it('lie in a namespace automerge-repo’s random IDs never reach', () => {
    expect(isInboxNamespaceId(inboxDocumentId('victim'))).toBe(true)
    const repo = new Repo({ network: [] })
    for (let i = 0; i < 200; i++) expect(isInboxNamespaceId(repo.create().documentId)).toBe(false)
    expect(isInboxNamespaceId(legacyInboxDocumentId('victim'))).toBe(false)
    expect(isInboxNamespaceId('not base58 !')).toBe(false)
  })

  it('a head sent under another user’s inbox ID is refused, and the victim still sees their conversations', async () => {
    const server = await startTestServer()
    servers.push(server)
    const target = inboxDocumentId('victim')
    const mallory = await RawClient.open(server, 'mallory')
    await mallory.join('mallory-raw')
    mallory.send({ type: 'sync', senderId: 'mallory-raw', targetId: server.server.repo.peerId, documentId: target, data: syncMessageWithAllChanges(squatHead('mallory', new Repo({ network: [] }).create().documentId)) })
    const closed = await mallory.closedWithin(5_000)

    const created = await http(server, 'alice', 'POST', '/v1/conversations', { kind: 'group', members: ['victim'] })
    expect(created.status).toBe(201)
    const listed = await http(server, 'victim', 'GET', '/v1/conversations')
    expect(listed.status).toBe(200)
    // Before the namespace: [] (the squatted ID held mallory's head, read as an empty inbox).
    expect(listed.json.conversations.map((c: { id: string }) => c.id)).toEqual([created.json.id])
    expect(closed?.code).toBe(4403)
    expect(closed?.reason).toMatch(/reserved for another user’s inbox/)
  })

  it('with the relay core, a segment sent under another user’s inbox ID is refused too', async () => {
    const server = await startTestServer({ relayCore: true })
    servers.push(server)
    const created = await http(server, 'mallory', 'POST', '/v1/conversations', { kind: 'group', members: [] })
    const segment = Automerge.change(Automerge.init<SegmentDoc>(), doc => initSegment(doc, created.json.id))
    const mallory = await RawClient.open(server, 'mallory')
    await mallory.join('mallory-raw')
    mallory.send({ type: 'sync', senderId: 'mallory-raw', targetId: server.server.repo.peerId, documentId: inboxDocumentId('victim'), data: syncMessageWithAllChanges(segment) })
    const closed = await mallory.closedWithin(5_000)
    const added = await http(server, 'alice', 'POST', '/v1/conversations', { kind: 'group', members: ['victim'] })
    expect((await http(server, 'victim', 'GET', '/v1/conversations')).json.conversations.map((c: { id: string }) => c.id)).toEqual([added.json.id])
    expect(closed?.code).toBe(4403)
  })

  it('a head may not list another user’s inbox ID as a segment', async () => {
    const server = await startTestServer()
    servers.push(server)
    const mallory = await RawClient.open(server, 'mallory')
    await mallory.join('mallory-raw')
    const own = new Repo({ network: [] }).create().documentId
    mallory.send({ type: 'sync', senderId: 'mallory-raw', targetId: server.server.repo.peerId, documentId: own, data: syncMessageWithAllChanges(squatHead('mallory', inboxDocumentId('victim'))) })
    const closed = await mallory.closedWithin(5_000)
    expect(closed?.code).toBe(4403)
    expect(closed?.reason).toMatch(/reserved for a user’s inbox/)
  })

  it('an inbox registered under the legacy ID by an earlier release is merged into the new one once', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-legacy-inbox-'))
    try {
      const legacyId = legacyInboxDocumentId('victim') as DocumentId
      {
        // What the earlier release left: the registry entry and the stored inbox document.
        const databases = await openDatabases(dataDir, { retryMs: 1000, maxHeldBytes: 1 << 20, minFreeBytes: 0 })
        await new AccessRegistry(databases.registry).register(legacyId, { type: 'inbox', user: 'victim' })
        const repo = new Repo({ network: [], storage: databases.documents })
        await repo.storageId()
        const handle = repo.import<InboxDoc>(inboxGenesis('victim'), { docId: legacyId })
        handle.change(d => addToInbox(d, 'old-conversation-id', 1234))
        await repo.flush()
        await repo.shutdown()
        await databases.close()
      }
      const server = await startTestServer({ dataDir })
      servers.push(server)
      const listed = await http(server, 'victim', 'GET', '/v1/conversations')
      expect(listed.json.conversations).toEqual([{ id: 'old-conversation-id', addedAt: 1234 }])
      // A user who never had a legacy inbox starts empty, and nobody else's legacy inbox leaks in.
      expect((await http(server, 'alice', 'GET', '/v1/conversations')).json.conversations).toEqual([])
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  })
})
