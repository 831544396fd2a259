/**
 * The device process of the catch-up benchmark: one system's device (devices.ts) on its
 * own storage directory. Orders over IPC: `catch-up` (ids, expected, deadlineMs) answered
 * (at the latest at the deadline, then with how many conversations were current) with the
 * time to the first and to the last conversation holding every message, this process's
 * CPU meanwhile and what the device marked on the way (ms); `offline`; `close`.
 */
import { hocuspocusDevice, parleyDevice, stockDevice, type Device } from './devices.ts'
import type { CatchUpKey } from './systems.ts'

const [key, url, dir, token] = process.argv.slice(2) as [CatchUpKey, string, string, string]
const DEVICES: Record<CatchUpKey, () => Device> = {
  stock: () => stockDevice(url, dir),
  hocuspocus: () => hocuspocusDevice(url, dir),
  parley: () => parleyDevice(url, dir, token),
}
const device = DEVICES[key]()

type Order = { type: 'catch-up'; ids: string[]; expected: number; deadlineMs: number } | { type: 'offline' } | { type: 'close' }

process.on('message', async (order: Order) => {
  try {
    if (order.type === 'catch-up') {
      const cpu = process.cpuUsage()
      const start = performance.now()
      let firstMs: number | undefined
      let current = 0
      const marks: [string, number][] = []
      const mark = (what: string) => marks.push([what, Math.round(performance.now() - start)])
      const caughtUp = device.catchUp(order.ids, order.expected, () => ((firstMs ??= performance.now() - start), current++), mark).then(() => true)
      // A device that never catches up is reported (how many conversations got there), not waited on forever.
      let timer: ReturnType<typeof setTimeout> | undefined
      const finished = await Promise.race([caughtUp, new Promise<false>(resolve => (timer = setTimeout(() => resolve(false), order.deadlineMs)))])
      clearTimeout(timer)
      const totalMs = performance.now() - start
      const { user, system } = process.cpuUsage(cpu)
      process.send!({ type: 'caught-up', finished, current, firstMs, totalMs, cpuMs: (user + system) / 1000, marks })
    }
    if (order.type === 'offline') {
      await device.offline()
      process.send!({ type: 'offline' })
    }
    if (order.type === 'close') process.exit(0)
  } catch (error) {
    process.send!({ type: 'failed', message: (error as Error).stack ?? String(error) })
  }
})
process.on('disconnect', () => process.exit(0))
// A clean exit on SIGTERM, so --cpu-prof (BENCH_PROFILE_DIR) gets written.
process.on('SIGTERM', () => process.exit(0))
process.send!({ type: 'started' })
