/**
 * Reloads that may come too early. Another node publishes a change before it stores it,
 * and stores it within SETTLE_MS of the frame or publishes it again (bus-outbox.ts), so a
 * reload from the shared storage may miss a change whose frame this node did not take in:
 * the frame was lost (a gap), came before this node listened, or came while the segment
 * was not loaded here. Such a reload is done once more SETTLE_MS later (other-nodes.ts); this
 * keeps the timers, and which segments had a frame heard while they were not loaded.
 */
import { BoundedMap } from '@parley/core'

/** Segments remembered as heard while not loaded: the oldest are forgotten past this. */
const MAX_HEARD_UNLOADED = 10_000

export class LateRefills {
  readonly #settleMs: number
  readonly #timers = new Set<ReturnType<typeof setTimeout>>()
  /** Segment ID → when a frame for it came while it was not loaded here (performance.now()). */
  readonly #heardUnloaded = new BoundedMap<string, number>(MAX_HEARD_UNLOADED)

  constructor(settleMs: number) {
    this.#settleMs = settleMs
  }

  /** A frame for a segment not loaded here: a load of it in the next SETTLE_MS may not find its changes yet. */
  heardUnloaded(segmentId: string): void {
    this.#heardUnloaded.set(segmentId, performance.now())
  }

  /** Is a load of this segment now early for a frame heard while it was not loaded? Asked once per load. */
  loadMayMiss(segmentId: string): boolean {
    const at = this.#heardUnloaded.get(segmentId)
    if (at === undefined) return false
    this.#heardUnloaded.delete(segmentId)
    return performance.now() - at < this.#settleMs
  }

  /** Runs `refill` SETTLE_MS from now, unless closed first. */
  later(refill: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      refill()
    }, this.#settleMs)
    timer.unref()
    this.#timers.add(timer)
  }

  close(): void {
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    this.#heardUnloaded.clear()
  }
}
