/**
 * Hybrid logical clock folded into milliseconds.
 *
 * `tick()` returns wall-clock ms, or one more than the last value when the wall clock
 * has not moved past it, so a device's timestamps strictly increase even within one
 * millisecond or when the wall clock steps back. `observe()` moves the clock past
 * timestamps seen from other devices, so a reply never sorts before what it answers.
 * A remote timestamp further than `maxDriftMs` ahead of our wall clock is not adopted:
 * one device with a wrong clock must not drag every other clock into the future.
 */
export interface ClockOptions {
  now?: () => number
  maxDriftMs?: number
  last?: number
}

export class HybridClock {
  #last: number
  readonly #now: () => number
  readonly #maxDriftMs: number

  constructor(options: ClockOptions = {}) {
    this.#now = options.now ?? Date.now
    this.#maxDriftMs = options.maxDriftMs ?? 60_000
    this.#last = options.last ?? 0
  }

  get last(): number {
    return this.#last
  }

  tick(): number {
    this.#last = Math.max(this.#now(), this.#last + 1)
    return this.#last
  }

  observe(remoteAt: number): void {
    if (!Number.isFinite(remoteAt)) return
    if (remoteAt > this.#now() + this.#maxDriftMs) return
    if (remoteAt > this.#last) this.#last = remoteAt
  }
}
