/**
 * setTimeout fires at once past 2^31 - 1 ms (~24.8 days): a timer for a token's `exp`
 * further ahead than that is re-armed in steps instead (SSE streams and long polls in
 * http/stream.ts, sync connections in network/server-adapter.ts).
 */
const MAX_TIMER_MS = 2 ** 31 - 1

/** Calls `run` at `at` (ms since the epoch), also when that is further away than one timer reaches. */
export function timerAt(at: number, run: () => void): { cancel(): void } {
  let timer: NodeJS.Timeout
  const arm = (): void => {
    const delay = at - Date.now()
    timer = delay > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(run, Math.max(0, delay))
  }
  arm()
  return { cancel: () => clearTimeout(timer) }
}
