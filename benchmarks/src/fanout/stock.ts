/**
 * Stock automerge-repo: its sync server as upstream ships it (Repo + WebSocketServerAdapter
 * + NodeFS), which sends a document's changes to its peers at most every 100 ms. The
 * members are the same lightweight peers as Parley's, on a document of the same shape
 * (a Parley segment), created by the sender; no tokens, no checks.
 */
import { next as Automerge } from '@automerge/automerge'
import { parseAutomergeUrl, generateAutomergeUrl } from '@automerge/automerge-repo'
import { appendEvent, initSegment, randomId, type SegmentDoc } from '@parley/core'
import { randomUUID } from 'node:crypto'
import { AutomergePeer } from './automerge-peer.ts'
import { syncedSegment, watchSegment } from './parley.ts'
import type { FanoutSystem } from './system.ts'

/**
 * The stock server prints `listening on` before its repo has wired the adapter to the
 * socket server: a peer that connects in between is never answered (and is cut by the
 * keep-alive 5 s later). So the sender, the first to connect, retries its join.
 */
async function connectSender(url: string, documentId: string, doc: Automerge.Doc<SegmentDoc>): Promise<AutomergePeer<SegmentDoc>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await AutomergePeer.connect(url, `sender-${randomUUID()}`, documentId, doc, 1_000)
    } catch (error) {
      if (attempt === 10) throw error
    }
  }
}

export const stockFanout: FanoutSystem = {
  server: 'stock',
  async createGroup({ url }) {
    const { documentId } = parseAutomergeUrl(generateAutomergeUrl())
    const doc = Automerge.change(Automerge.init<SegmentDoc>(), doc => initSegment(doc, 'fanout'))
    const sender = await connectSender(url, documentId, doc)
    sender.start()
    await sender.until(() => sender.serverHasOurChanges(), 'the server to store the document')
    return {
      id: documentId,
      send: text => sender.change(doc => appendEvent(doc, { id: randomId(), type: 'message', author: 'sender', device: 'fanout-sender', at: Date.now(), text })),
      close: async () => sender.close(),
    }
  },
  async join(url, user, documentId, onText) {
    const peer = await syncedSegment(url, `${user}-${randomUUID()}`, documentId)
    watchSegment(peer, onText)
    return () => peer.close()
  },
}
