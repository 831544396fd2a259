/** The delay before retry number `failures` (from 0): full jitter, doubling from `minMs`, capped at `maxMs`. */
export function fullJitterMs(failures: number, minMs: number, maxMs: number): number {
  return Math.round(Math.random() * Math.min(maxMs, minMs * 2 ** Math.min(failures, 20)))
}
