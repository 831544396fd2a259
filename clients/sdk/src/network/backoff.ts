/** Reconnect delays: full-jitter exponential backoff (as centrifuge-js does it). */
export interface BackoffOptions {
  /** Smallest delay in ms. */
  minMs: number
  /** Largest delay in ms. */
  maxMs: number
  /** Give up after this many failed attempts in a row; unset retries for ever. */
  maxAttempts?: number
  /** Injected for tests; defaults to Math.random. */
  random?: () => number
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ minMs: 250, maxMs: 30_000 })

/** Delay before retry number `attempt` (0 for the first retry): min + U(0, min(max, min·2^attempt)), capped at max. */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random
  const ceiling = Math.min(options.maxMs, options.minMs * 2 ** Math.min(attempt, 31))
  return Math.min(options.maxMs, options.minMs + Math.floor(random() * ceiling))
}
