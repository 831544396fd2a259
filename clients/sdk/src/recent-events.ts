/**
 * Events appended or read lately on this device, by their stored JSON. The event log
 * parses each new event once (or has it from `append`, unparsed); the search index reads
 * the same inserts a moment later (search/search-index.ts) and takes the event from here
 * instead of parsing it again. Bounded: the oldest entries go first, and an entry nobody
 * takes costs only a parse later.
 */
import { BoundedMap, type ParleyEvent } from '@parley/core'

/** Enough for the events of one search batch (100 ms) at any plausible rate. */
const MAX_RECENT = 2_000

export class RecentEvents {
  readonly #events = new BoundedMap<string, ParleyEvent>(MAX_RECENT)

  remember(json: string, event: ParleyEvent): void {
    this.#events.set(json, event)
  }

  get(json: string): ParleyEvent | undefined {
    return this.#events.get(json)
  }

  /** The event, which is then forgotten (the search index reads each insert once). */
  take(json: string): ParleyEvent | undefined {
    const event = this.#events.get(json)
    if (event) this.#events.delete(json)
    return event
  }

  get size(): number {
    return this.#events.size
  }
}
