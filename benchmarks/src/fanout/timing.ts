/**
 * Clocks for the fanout benchmark.
 *
 * Cross-process timing: every process stamps `performance.timeOrigin + performance.now()`,
 * i.e. the wall clock (CLOCK_REALTIME) read once when the process started, at µs
 * resolution, plus the monotonic time since. The coordinator stamps it just before the
 * sender sends; each worker stamps it when a member has the message. All processes run
 * on one machine and read one system clock, so the stamps agree to well under a
 * millisecond; what could still differ (the clock slewed between two processes' starts)
 * is measured before the run with IPC round trips (`clockOffset`, NTP style: the
 * worker's stamp against the midpoint of the fastest round trip) and subtracted.
 *
 * Server CPU comes from /proc/PID/task/*\/schedstat (nanoseconds on CPU, every thread),
 * not /proc/PID/stat: its 10 ms ticks are too coarse for a few cheap messages.
 */
import type { ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { cpuSeconds, nextMessage } from '../lib/processes.ts'

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export const now = (): number => performance.timeOrigin + performance.now()

export const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** CPU milliseconds a process has used so far (all threads). */
export function cpuMs(pid: number): number {
  try {
    let ns = 0
    for (const task of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0])
    return ns / 1e6
  } catch {
    return cpuSeconds(pid) * 1000
  }
}

/** How far a worker's `now()` runs ahead of ours, in ms (the worker answers `clock` with `{ type: 'clock', at }`). */
export async function clockOffset(worker: ChildProcess, rounds = 10): Promise<number> {
  let best = { rtt: Infinity, offset: 0 }
  for (let round = 0; round < rounds; round++) {
    const reply = nextMessage<{ at: number }>(worker, 'clock')
    const sent = now()
    worker.send({ type: 'clock' })
    const { at } = await reply
    const received = now()
    if (received - sent < best.rtt) best = { rtt: received - sent, offset: at - (sent + received) / 2 }
  }
  return best.offset
}

/**
 * Waits until the given processes are idle (each under 10 % of a core over 25 ms), so the
 * next message does not start while the last one's acknowledgements are still being
 * processed. Gives up after `maxMs`.
 */
export async function untilIdle(pids: number[], maxMs = 5_000): Promise<void> {
  const WINDOW_MS = 25
  const deadline = performance.now() + maxMs
  await sleep(WINDOW_MS)
  while (performance.now() < deadline) {
    const before = pids.map(cpuMs)
    await sleep(WINDOW_MS)
    if (pids.every((pid, i) => cpuMs(pid) - before[i]! < WINDOW_MS * 0.1)) return
  }
}
