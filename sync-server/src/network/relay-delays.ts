/**
 * The delivery-latency metric: how long a change took from arriving on one connection to
 * being sent on to another peer (`deliveryLatency`). Kept per document: the earliest
 * change still waiting is the one whose delay counts.
 */
import type { Message, PeerId } from '@automerge/automerge-repo'
import type { AdapterMetrics } from '../metrics/metrics.ts'
import { decodeSyncData } from './frames.ts'

/**
 * A change not sent on to another peer within this long was not relayed: the document
 * later reached someone who asked for it (catch-up), which is not delivery latency.
 */
const RELAY_WINDOW_MS = 10_000

export class RelayDelays {
  readonly #metrics: AdapterMetrics
  /** Per document, when a change arrived and from whom, until it is sent to another peer. */
  readonly #unrelayed = new Map<string, { at: number; from: PeerId }>()

  constructor(metrics: AdapterMetrics) {
    this.#metrics = metrics
  }

  /** A sync message from a peer, checked: remembered if it carries changes. */
  messageArrived(message: Message, receivedAt: number): void {
    const { documentId, data } = message as { documentId?: string; data?: Uint8Array }
    if (documentId === undefined || !data) return
    if (decodeSyncData(data).changes.length === 0) return
    this.arrived(documentId, message.senderId, receivedAt)
  }

  /** A change to the document arrived from `from`. */
  arrived(documentId: string, from: PeerId, receivedAt: number): void {
    // Roughly oldest first (insertion order): drop the ones nobody else was waiting for.
    for (const [id, { at }] of this.#unrelayed) {
      if (receivedAt - at < RELAY_WINDOW_MS) break
      this.#unrelayed.delete(id)
    }
    if (!this.#unrelayed.has(documentId)) this.#unrelayed.set(documentId, { at: receivedAt, from })
  }

  /** A sync message about the document went to `targetId`. */
  relayed(documentId: string, targetId: PeerId): void {
    const pending = this.#unrelayed.get(documentId)
    if (!pending || pending.from === targetId) return
    this.#unrelayed.delete(documentId)
    const elapsed = performance.now() - pending.at
    if (elapsed < RELAY_WINDOW_MS) this.#metrics.deliveryLatency(elapsed / 1000)
  }
}
