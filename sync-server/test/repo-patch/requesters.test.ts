/**
 * automerge-repo patch, CollectionSynchronizer: what is kept of who asked for a document
 * nobody had. `removeUnavailable` (`@@-137`) remembers the requesters of a dropped document
 * so it still reaches them should it appear, but only for the newest
 * MAX_UNAVAILABLE_REQUESTED (2,000, `@@-3`) such documents: each is a peer-chosen ID. And
 * `removePeer` (`@@-156`) forgets a document once nobody who asked for it is connected,
 * where stock automerge-repo keeps an empty requester set per document ever asked for;
 * those empty sets are also what would count as requesters against the 2,000.
 * Real repos over in-memory links; the server uses Parley's share config (nothing is
 * announced: a document reaches a peer that asked for it, or none).
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { generateAutomergeUrl, parseAutomergeUrl, type DocumentId, type Repo } from '@automerge/automerge-repo'
import { next as A } from '@automerge/automerge'
import { quiet, star, type Link } from './links.ts'

const BOUND = 2000

let shutdown: (() => void) | undefined
afterEach(() => {
  shutdown?.()
  shutdown = undefined
})

const unknownIds = (count: number): DocumentId[] => Array.from({ length: count }, () => parseAutomergeUrl(generateAutomergeUrl()).documentId)

/**
 * The client at `link`'s far end asks the server for `ids`, nobody has them, and the server
 * answers unavailable. The requests go onto the link as the client's repo would send them
 * (as a client flooding random IDs would): its repo need not hold 2,000 handles of its own.
 */
async function request(server: Repo, link: Link, ids: DocumentId[]): Promise<void> {
  const [, data] = A.generateSyncMessage(A.init(), A.initSyncState())
  // Nor does it hear the answers (its repo would ask again, and the server set the documents up afresh).
  link.drop = message => message.senderId === link.b.peerId
  for (const documentId of ids) link.a.send({ type: 'request', senderId: link.a.peerId!, targetId: link.b.peerId!, documentId, data: data! })
  await vi.waitFor(() => expect(ids.every(id => server.handles[id]?.state === 'unavailable')).toBe(true), { timeout: 60_000 })
  await quiet([link])
  link.drop = undefined
}

/** What DocumentEvictor drops (documents/eviction.ts): handles of documents nobody had, oldest first. */
function drop(server: Repo, ids: DocumentId[]): void {
  for (const id of ids) expect(server.removeUnavailable(id)).toBe(true)
}

/** `writer` uploads a document under `id`; resolves once the server has it and every link is quiet. */
async function upload(net: { server: Repo; links: Link[] }, writer: Repo, id: DocumentId): Promise<void> {
  writer.import(A.save(A.from({ text: id })), { docId: id })
  await vi.waitFor(() => expect(net.server.handles[id]?.isReady()).toBe(true), { timeout: 60_000 })
  await quiet(net.links)
}

/** Whether the server sent `link`'s client anything for `id` (request() keeps its answers off the link). */
const sentTo = (link: Link, id: DocumentId) => link.messages(link.b.peerId!, id).length > 0

describe('requesters of documents nobody had (automerge-repo patch)', () => {
  it(`remembers the requesters of the newest ${BOUND} dropped documents, and not of older ones`, async () => {
    const net = await star(2)
    shutdown = net.shutdown
    const [toAsker] = net.links
    const [, writer] = net.clients
    const ids = unknownIds(BOUND + 1)
    await request(net.server, toAsker!, ids)
    drop(net.server, ids)
    const [oldest, newest] = [ids[0]!, ids[BOUND]!]

    await upload(net, writer!, oldest)
    await upload(net, writer!, newest)

    expect({ oldest: sentTo(toAsker!, oldest), newest: sentTo(toAsker!, newest) }).toEqual({ oldest: false, newest: true })
  })

  it('forgets who asked once they disconnect: their requests do not push out those of peers still connected', async () => {
    const net = await star(3)
    shutdown = net.shutdown
    const [toAsker, toLeaver] = net.links
    const [, leaver, writer] = net.clients
    const [wanted] = unknownIds(1) as [DocumentId]
    await request(net.server, toAsker!, [wanted])
    drop(net.server, [wanted])

    // Another peer asks for as many documents as the bound and leaves before they are dropped.
    const abandoned = unknownIds(BOUND)
    await request(net.server, toLeaver!, abandoned)
    toLeaver!.down()
    await vi.waitFor(() => expect(net.server.peers).not.toContain(leaver!.peerId))
    drop(net.server, abandoned)

    await upload(net, writer!, wanted)
    expect(sentTo(toAsker!, wanted)).toBe(true)
  })
})
