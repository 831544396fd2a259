/**
 * A member process's event-loop delay since it was last asked (p99, ms): the progress
 * lines print it beside the server's, so a latency that drifts shows whether the load
 * generator or the server fell behind.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'

const delay = monitorEventLoopDelay({ resolution: 10 })
delay.enable()

export function loopDelayP99Ms(): number {
  const p99 = delay.count > 0 ? delay.percentile(99) / 1e6 : 0
  delay.reset()
  return Math.round(p99 * 10) / 10
}
