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

  /** Tokens available at `now`. */
  tokens(now = Date.now()): number {
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#updated) / 1000) * this.#perSecond)
    this.#updated = now
    return this.#tokens
  }

  /** Takes one token; false when the bucket is empty. */
  take(now = Date.now()): boolean {
    if (this.tokens(now) < 1) return false
    this.#tokens -= 1
    return true
  }
}

/**
 * Message rates per user: one bucket shared by all of a user's connections (more
 * connections bring no more messages), kept after they close so that reconnecting does
 * not refill it. A user who ran their bucket empty is refused new connections until it
 * is half full again: a flood by reconnecting is answered with cheap HTTP 429s, not with
 * a fresh burst of messages to check and relay each time.
 */
export class UserRates {
  readonly #perSecond: number
  readonly #burst: number
  readonly #users = new Map<string, { bucket: TokenBucket; limited: boolean }>()

  constructor(perSecond: number, burst: number) {
    this.#perSecond = perSecond
    this.#burst = burst
  }

  /** Takes one of `user`'s tokens; false when they have none left. */
  take(user: string, now = Date.now()): boolean {
    let entry = this.#users.get(user)
    if (!entry) this.#users.set(user, (entry = { bucket: new TokenBucket(this.#perSecond, this.#burst, now), limited: false }))
    if (entry.bucket.take(now)) return true
    entry.limited = true
    return false
  }

  /** Milliseconds until `user` may open a connection again: 0 unless they were rate limited recently. */
  retryAfterMs(user: string, now = Date.now()): number {
    const entry = this.#users.get(user)
    if (!entry?.limited) return 0
    const missing = this.#burst / 2 - entry.bucket.tokens(now)
    if (missing <= 0) {
      entry.limited = false
      return 0
    }
    return Math.ceil((missing / this.#perSecond) * 1000)
  }

  /** Forgets users whose bucket is full again: they are where a newcomer starts. */
  prune(now = Date.now()): void {
    for (const [user, { bucket }] of this.#users) if (bucket.tokens(now) >= this.#burst) this.#users.delete(user)
  }

  get size(): number {
    return this.#users.size
  }
}
