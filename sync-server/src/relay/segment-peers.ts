/**
 * What the relay hub (hub.ts) sends a segment's peers: newly accepted changes as one
 * message built once, shared by every peer in sync; a message generated from the log for
 * the others; and a peer's acknowledgement, held back until its changes are stored.
 */
import type { DocumentId, Message, PeerId } from '@automerge/automerge-repo'
import type { LoggedChange } from './change-log.ts'
import { answer, canForward, forwardable, forwarded, generate, type PeerState } from './peer-sync.ts'
import type { Segment } from './segment.ts'

export class SegmentPeers {
  readonly #send: (message: Message) => void
  readonly #peerId: () => PeerId

  constructor(send: (message: Message) => void, peerId: () => PeerId) {
    this.#send = send
    this.#peerId = peerId
  }

  /** Newly appended changes to the segment's peers (but their origin): one shared message to those in sync. */
  forward(segment: Segment, accepted: readonly LoggedChange[], before: readonly string[], origin: PeerId | undefined): void {
    const forward = forwardable(segment.log, accepted, before)
    for (const [peer, state] of segment.peers) {
      // A peer waiting for an acknowledgement gets this change with it (acknowledgeAfter).
      if (peer === origin || segment.acknowledging.has(peer)) continue
      if (canForward(state, forward)) {
        segment.peers.set(peer, forwarded(state, forward))
        this.#sync(segment.id, peer, forward.message)
      } else this.generate(segment, peer)
    }
  }

  /** Our next message for the peer, if there is one to say now. */
  generate(segment: Segment, peer: PeerId): void {
    const state = segment.peers.get(peer)
    if (state && !segment.acknowledging.has(peer)) this.#sendNext(segment, peer, generate(segment.log, state))
  }

  /**
   * Until `written` (a message's writes: its changes stored, new actors bound) and the
   * peer's other such writes are done, nothing goes to them on this segment; then one
   * message answers every message they sent meanwhile (answering each as its write came
   * back flooded a busy sender with stale answers, each of which it answered). Sent even
   * where generate has nothing to say: a follow-up of theirs at our heads makes
   * peer-sync.ts take them as answered, but their sync state still waits for our heads. A
   * failed write sends nothing (the connection closes).
   */
  acknowledgeAfter(segment: Segment, peer: PeerId, written: Promise<unknown>): Promise<void> {
    segment.acknowledging.set(peer, (segment.acknowledging.get(peer) ?? 0) + 1)
    const done = (ok: boolean): void => {
      const waiting = (segment.acknowledging.get(peer) ?? 1) - 1
      if (ok && waiting > 0) {
        segment.acknowledging.set(peer, waiting)
        return
      }
      segment.acknowledging.delete(peer)
      const state = segment.peers.get(peer)
      if (ok && state) this.#sendNext(segment, peer, answer(segment.log, state))
    }
    return written.then(
      () => done(true),
      (error: unknown) => {
        done(false)
        throw error
      },
    )
  }

  /** Tells the peer nobody has this document, as the repo would. */
  unavailable(documentId: string, targetId: PeerId): undefined {
    this.#send({ type: 'doc-unavailable', senderId: this.#peerId(), targetId, documentId: documentId as DocumentId })
    return undefined
  }

  #sendNext(segment: Segment, peer: PeerId, next: { state: PeerState; message: Uint8Array | null }): void {
    segment.peers.set(peer, next.state)
    if (next.message) this.#sync(segment.id, peer, next.message)
  }

  #sync(documentId: string, targetId: PeerId, data: Uint8Array): void {
    this.#send({ type: 'sync', senderId: this.#peerId(), targetId, documentId: documentId as DocumentId, data })
  }
}
