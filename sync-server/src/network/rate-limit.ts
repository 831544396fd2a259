/**
 * Decoding work one token pays for, beyond the token every message costs (docs/security.md,
 * "Rate limits weigh work"): a sync message's changes are charged their rows and inflated
 * column bytes as access/chunk-format.ts measures them from the layout, before Automerge
 * decodes anything. One small change per message (a chat line: a few rows, a few hundred
 * bytes) costs nothing more; a message at the decode budget (4,096 rows, 4 MiB) costs 32
 * tokens more for its rows and up to 256 for its bytes. A token pays for about 1 ms of
 * checking, so the default refill (200/s) holds one user to about a fifth of a core.
 * A row weighs 1/128: at 1/16 a device uploading a long offline history (100 full
 * segments, ~1,000 rows each) spent the burst many times over and was cut with 4429 again
 * and again for minutes (clients/web/test/browser/history.test.ts seeds one so).
 */
export const ROWS_PER_TOKEN = 128
export const BYTES_PER_TOKEN = 16 * 1024

/** The tokens the decoding work of one message costs beyond its own token: whole tokens, rounded down. */
export function workTokens(work: { rows: number; bytes: number }): number {
  return Math.floor(work.rows / ROWS_PER_TOKEN) + Math.floor(work.bytes / BYTES_PER_TOKEN)
}

/** A token bucket: `burst` tokens at once, refilled at `perSecond`. */
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

  /**
   * Takes `cost` tokens; false when fewer than one is left. The bucket may go below zero:
   * a message costing more than is left (or than the burst) passes once, and its user then
   * waits until the debt is paid, so no message is too costly ever to pass.
   */
  take(now = Date.now(), cost = 1): boolean {
    if (this.tokens(now) < 1) return false
    this.#tokens -= cost
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
    return this.spend(user, 1, now)
  }

  /** Takes `cost` of `user`'s tokens (TokenBucket.take: possibly into debt); false when they have none left. */
  spend(user: string, cost: number, now = Date.now()): boolean {
    if (cost <= 0) return true
    let entry = this.#users.get(user)
    if (!entry) this.#users.set(user, (entry = { bucket: new TokenBucket(this.#perSecond, this.#burst, now), limited: false }))
    if (entry.bucket.take(now, cost)) return true
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
