/**
 * automerge-repo patch, CollectionSynchronizer `@@-104` (share check only for the sender)
 * and `@@-174` with Repo `@@-746` (`shareConfigChanged(documentIds)`). Stock automerge-repo
 * asks the share config about every connected peer on every incoming message, and about
 * every loaded document × every peer on every share change: O(peers) per message and
 * O(documents × peers) per membership change on the server. Real repos over in-memory links;
 * the server uses Parley's share config (never announce, `access` decides), with counted calls.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { DocumentId } from '@automerge/automerge-repo'
import { quiet, star } from './links.ts'

const PEERS = 5
let shutdown: (() => void) | undefined
afterEach(() => shutdown?.())

describe('share checks (automerge-repo patch)', () => {
  it('checks only the sender, once, for a message on a document it already syncs, however many peers are connected', async () => {
    const net = await star(PEERS)
    shutdown = net.shutdown
    const [writer, ...readers] = net.clients
    const written = writer!.create<{ n: number }>({ n: 0 })
    await vi.waitFor(() => expect(net.server.handles[written.documentId]?.isReady()).toBe(true))
    const read = await Promise.all(readers.map(reader => reader.find<{ n: number }>(written.documentId)))
    await quiet(net.links)

    net.calls.access = net.calls.announce = 0
    const before = net.links.map(link => link.messages(link.a.peerId!, written.documentId).length)
    written.change(doc => (doc.n = 1))
    await vi.waitFor(() => expect(read.map(handle => handle.doc().n)).toEqual(readers.map(() => 1)))
    await quiet(net.links)

    const received = net.links.reduce((sum, link, i) => sum + link.messages(link.a.peerId!, written.documentId).length - before[i]!, 0)
    expect(received).toBeGreaterThanOrEqual(PEERS) // the change, and every reader's answer to it
    // One `access` per message (is the sender still allowed?), no scan of the other peers.
    expect(net.calls).toEqual({ access: received, announce: 0 })
  })

  it('shareConfigChanged([id]) checks that document against each peer, not every loaded document', async () => {
    const net = await star(PEERS)
    shutdown = net.shutdown
    const loaded = Array.from({ length: 10 }, (_, i) => net.server.create({ i }))
    await quiet(net.links)

    net.calls.access = net.calls.announce = 0
    net.server.shareConfigChanged([loaded[0]!.documentId as DocumentId])
    await vi.waitFor(() => expect(net.calls.access).toBeGreaterThanOrEqual(PEERS))
    await quiet(net.links)

    expect(net.calls).toEqual({ access: PEERS, announce: PEERS })
  })
})
