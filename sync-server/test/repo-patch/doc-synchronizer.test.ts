/**
 * automerge-repo patch, DocSynchronizer:
 * - the memo of acknowledgements (`@@-11`, `@@-268`, `@@-296` `#knownAcknowledgement`,
 *   `@@-331` `syncStateKey`): peers in the same state that send the same change-less message
 *   cost one `receiveSyncMessage`, not one each (the server's fan-out);
 * - `awaitingAnswer` / defer (`@@-51`, `@@-71` `#defer`, `@@-122`, `@@-268`): a peer that has
 *   not answered our last message with changes gets the next changes with its answer, not
 *   one message per change;
 * - `beginSync` also stops waiting on unavailable (`@@-1`, `@@-181`): a document a peer
 *   claimed and never sent, dropped as the evictor drops it, leaves no wait behind that
 *   rejects, unhandled, once automerge-repo's 60 s `whenReady` timeout passes.
 * Real repos over in-memory links (links.ts); the server uses Parley's share config.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { DocHandle, DocumentId } from '@automerge/automerge-repo'
import { carriesChanges, quiet, star, tick } from './links.ts'

let shutdown: (() => void) | undefined
afterEach(() => {
  vi.useRealTimers()
  shutdown?.()
  shutdown = undefined
})

describe('DocSynchronizer (automerge-repo patch)', () => {
  it('runs receiveSyncMessage once when several peers in the same state send the same acknowledgement', async () => {
    const PEERS = 5
    const net = await star(PEERS)
    shutdown = net.shutdown
    const doc = net.server.create<{ n: number }>({ n: 0 })
    const copies = await Promise.all(net.clients.map(client => client.find<{ n: number }>(doc.documentId)))
    await quiet(net.links)

    let receives = 0
    net.server.on('doc-metrics', event => {
      if (event.type === 'receive-sync-message') receives++
    })
    const before = net.links.map(link => link.messages(link.a.peerId!, doc.documentId).length)
    doc.change(d => (d.n = 1))
    await vi.waitFor(() => expect(copies.map(copy => copy.doc().n)).toEqual(copies.map(() => 1)))
    await quiet(net.links)

    // Every client answered the change with the same bytes, from the same state...
    const acks = net.links.flatMap((link, i) => link.messages(link.a.peerId!, doc.documentId).slice(before[i]))
    expect(acks).toHaveLength(PEERS)
    expect(new Set(acks.map(ack => ('data' in ack && ack.data ? Buffer.from(ack.data).toString('hex') : ''))).size).toBe(1)
    // ...and the server ran receiveSyncMessage for the first only.
    expect(receives).toBe(1)
  })

  it('sends a burst of changes to a peer that has not answered yet in fewer messages than changes', async () => {
    const CHANGES = 20
    const net = await star(1)
    shutdown = net.shutdown
    const [link] = net.links
    const writer = net.clients[0]!
    const doc = writer.create<{ n: number }>({ n: 0 })
    await vi.waitFor(() => expect(net.server.handles[doc.documentId]?.isReady()).toBe(true))
    await quiet(net.links)

    const before = link!.messages(writer.peerId, doc.documentId).length
    link!.hold() // a slow link: the server's answer to the first change comes after the burst
    for (let n = 1; n <= CHANGES; n++) {
      doc.change(d => (d.n = n))
      await tick() // one change per turn of the event loop: the no-throttle hunk coalesces only within a tick
    }
    link!.release()
    const copy = net.server.handles[doc.documentId as DocumentId] as DocHandle<{ n: number }>
    await vi.waitFor(() => expect(copy.doc().n).toBe(CHANGES))
    await quiet(net.links)

    const withChanges = link!.messages(writer.peerId, doc.documentId).slice(before).filter(carriesChanges)
    // Patched: the first change, then the rest with the reply to the server's answer (2);
    // stock: one message per change (20). Half leaves room for a 250 ms DEFER_MS flush on a slow host.
    expect(withChanges.length).toBeLessThan(CHANGES / 2)
  })

  it('gives up a document a peer claimed and never sent once it is dropped: no unhandled rejection after the 60 s wait', async () => {
    const rejections: unknown[] = []
    const onRejection = (reason: unknown) => rejections.push(reason)
    process.on('unhandledRejection', onRejection)
    try {
      const net = await star(1)
      shutdown = net.shutdown
      const [link] = net.links
      const claimer = net.clients[0]!
      // The claimer's changes are lost: the server learns the document's heads, never its content.
      link!.drop = message => message.senderId === claimer.peerId && carriesChanges(message)
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
      const claimed = claimer.create<{ n: number }>({ n: 1 })
      await vi.waitFor(() => expect(net.server.handles[claimed.documentId]?.state).toBe('requesting'))
      await quiet(net.links)

      // What DocumentEvictor.drop does with a request nobody answered (documents/eviction.ts).
      const handle = net.server.handles[claimed.documentId]!
      handle.unavailable()
      expect(net.server.removeUnavailable(claimed.documentId)).toBe(true)
      await vi.advanceTimersByTimeAsync(61_000)
      for (let i = 0; i < 20; i++) await tick()

      expect(rejections).toEqual([])
    } finally {
      process.off('unhandledRejection', onRejection)
    }
  })
})
