/**
 * Changes this node accepted, on their way to the bus (bus.ts): published at once, as they
 * are forwarded to this node's own peers, so a client of another node waits on no write
 * (issue 16: cross-node latency within 1 ms of one node's). Publishing after the write
 * added a PostgreSQL commit to every cross-node delivery: 1.6–2.6 ms under the cluster
 * benchmark's load (docs/cluster.md, "Segments over the bus").
 *
 * The price is a window in which a change is on the bus but not yet where a reload looks
 * (a node that missed the frame, or subscribed a moment after it). It is closed from both
 * ends: a change whose write and numbering take SETTLE_MS or longer is published again once
 * they are done, and a node whose reload may have come too early reloads once more
 * SETTLE_MS later (other-nodes.ts), as its event index reads numbers back again
 * (events/event-index.ts). Storing never waits on Redis.
 */
import type { FastifyBaseLogger } from 'fastify'
import { SETTLE_MS, type SegmentBus } from './bus.ts'

/** Says when a published change is stored and numbered: `stored` rejects if the write failed. */
export type Settling = (stored: Promise<void>, recorded: Promise<unknown>) => void

export class BusOutbox {
  readonly #bus: SegmentBus
  readonly #log: FastifyBaseLogger
  readonly #settleMs: number
  /** Published changes whose write or numbering is still out. */
  readonly #settling = new Set<Promise<void>>()

  constructor(bus: SegmentBus, log: FastifyBaseLogger, settleMs = SETTLE_MS) {
    this.#bus = bus
    this.#log = log
    this.#settleMs = settleMs
  }

  /**
   * Publishes at once, before the hub writes to its own peers (a node's fan-out to its own
   * members would otherwise delay every other node's). The caller then says when the
   * changes are stored and numbered; they are published again if that took SETTLE_MS or
   * longer, or the write failed.
   */
  publish(conversation: string, segment: string, changes: readonly Uint8Array[]): Settling {
    this.#bus.publish(conversation, segment, changes)
    const published = performance.now()
    return (stored, recorded) => {
      const settling = Promise.allSettled([stored, recorded]).then(([written]) => {
        if (written.status === 'rejected') this.#log.warn({ err: written.reason, documentId: segment }, 'published changes could not be stored yet; their write is tried again')
        // A node that reloaded in the meantime may have found neither: it hears them now.
        if (written.status === 'rejected' || performance.now() - published >= this.#settleMs) this.#bus.publish(conversation, segment, changes)
      })
      this.#settling.add(settling)
      void settling.then(() => this.#settling.delete(settling))
    }
  }

  /** Resolves once every published change's write and numbering have settled. */
  async idle(): Promise<void> {
    await Promise.all(this.#settling)
  }
}
