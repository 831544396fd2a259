/** A token bucket: `burst` messages at once, refilled at `perSecond`. */
export class TokenBucket {
  readonly #perSecond: number
  readonly #burst: number
  #tokens: number
  #updated: number

  constructor(perSecond: number, burst: number, now = Date.now()) {
    this.#perSecond = perSecond
    this.#burst = burst
    this.#tokens = burst
    this.#updated = now
  }

  /** Takes one token; false when the bucket is empty. */
  take(now = Date.now()): boolean {
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#updated) / 1000) * this.#perSecond)
    this.#updated = now
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }
}
