/**
 * Changes this node accepted, on their way to the bus (bus.ts): published once they are
 * stored and numbered. Why after the write: a node that missed a frame (Redis dropped it,
 * its link was down, it subscribed a moment later) finds every published change in the
 * shared storage when it reloads the segment, so one reload fills any gap, and nothing is
 * lost if Redis drops a message. Publishing first would open a window (one write) in
 * which a change is on the bus but not where a reload looks. Storing never waits on
 * Redis; the price is one storage write ahead of each cross-node delivery, shared by
 * every change accepted while the previous write was out (log-storage.ts).
 * After the numbering too: the other nodes' event index then reads the numbers back (the
 * hub's `relayed` hook) instead of numbering, so webhooks stay with the accepting node
 * (docs/cluster.md, "Segments over the bus").
 */
import type { FastifyBaseLogger } from 'fastify'
import type { SegmentBus } from './bus.ts'

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
  #outgoing: Outgoing[] = []
  #draining: Promise<void> | undefined

  constructor(bus: SegmentBus, log: FastifyBaseLogger) {
    this.#bus = bus
    this.#log = log
  }

  publish(item: Outgoing): void {
    this.#outgoing.push(item)
    this.#draining ??= this.#drain()
  }

  /** Resolves once everything queued is published. */
  async idle(): Promise<void> {
    await this.#draining
  }

  async #drain(): Promise<void> {
    while (this.#outgoing.length > 0) {
      const batch = this.#outgoing
      this.#outgoing = []
      // A failed write still publishes: the nodes listening get the change live; a reload
      // elsewhere cannot find it (docs/cluster.md, "Segments over the bus").
      await Promise.all(batch.map(item => item.stored.catch(error => this.#log.warn({ err: error, documentId: item.segment }, 'could not store changes before publishing them'))))
      await Promise.allSettled(batch.map(item => item.recorded))
      for (const item of batch) this.#bus.publish(item.conversation, item.segment, item.changes)
    }
    this.#draining = undefined
  }
}
