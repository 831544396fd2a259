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

export interface Outgoing {
  readonly conversation: string
  readonly segment: string
  readonly changes: Uint8Array[]
  /** Settles once the changes are stored (rejects if the write failed). */
  readonly stored: Promise<void>
  /** Settles once the changes' events are numbered. */
  readonly recorded: Promise<unknown>
}

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

  publish(item: Outgoing): void {
    this.#bus.publish(item.conversation, item.segment, item.changes)
    const published = performance.now()
    const settling = Promise.allSettled([item.stored, item.recorded]).then(([stored]) => {
      if (stored.status === 'rejected') this.#log.warn({ err: stored.reason, documentId: item.segment }, 'published changes could not be stored yet; their write is tried again')
      // A node that reloaded in the meantime may have found neither: it hears them now.
      if (stored.status === 'rejected' || performance.now() - published >= this.#settleMs) this.#bus.publish(item.conversation, item.segment, item.changes)
    })
    this.#settling.add(settling)
    void settling.then(() => this.#settling.delete(settling))
  }

  /** Resolves once every published change's write and numbering have settled. */
  async idle(): Promise<void> {
    await Promise.all(this.#settling)
  }
}
