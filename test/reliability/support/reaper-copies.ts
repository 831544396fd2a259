/**
 * A process that loads sync-server/src/child-reaper.ts twice, as a vitest fork running
 * many files evaluates it once per file, starts a child through each copy, prints the
 * children's PIDs, the `exit` listeners the copies added and the reapers, and waits to be killed
 * (test/reliability/child-reaper.test.ts).
 */
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

type ReaperModule = typeof import('../../../sync-server/src/child-reaper.ts')

// Node or tsx may listen already: what the copies add is counted.
const before = process.listenerCount('exit')
const source = new URL('../../../sync-server/src/child-reaper.ts', import.meta.url).href
// A different URL is a different module instance, with module state of its own.
const copies: ReaperModule[] = [await import(`${source}?copy=1`), await import(`${source}?copy=2`)]
const pids = copies.map(copy => copy.reapOnExit(spawn('sleep', ['600'], { stdio: 'ignore' })).pid)

/** This process's children whose command line names the reaper. */
function reapers(name: string): number {
  let count = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === process.pid && readFileSync(`/proc/${entry}/cmdline`, 'latin1').includes(name)) count++
    } catch {
      // gone meanwhile
    }
  }
  return count
}

console.log(JSON.stringify({ pids, copies: new Set(copies).size, exitListeners: process.listenerCount('exit') - before, reapers: reapers(copies[0]!.REAPER_NAME) }))
setInterval(() => undefined, 60_000)
