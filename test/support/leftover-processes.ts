/**
 * Vitest global setup (root vitest.config.ts): when the whole run is over, no process it
 * started may still be running: no parley-server, CLI, redis-server, nginx or Chromium.
 * Any that is gets listed, killed, and fails the run. Then the run's TMPDIR goes.
 *
 * A process is the run's when it carries PARLEY_TEST_RUN in its environment, names the
 * run's TMPDIR in its command line or works in it (test/support/test-run.ts), or
 * descends from one that does. vitest's own processes (this one, its workers, esbuild)
 * and the workers' reapers (sync-server/src/child-reaper.ts) are not leftovers.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { REAPER_NAME } from '../../sync-server/src/child-reaper.ts'
import { startTestRun } from './test-run.ts'

interface ProcessInfo {
  pid: number
  ppid: number
  pgid: number
  state: string
  command: string
  marked: boolean
}

/** vitest's main process starts these and ends them itself after the global teardown. */
const VITEST_OWN = [/^node \(vitest \d+\)/, /node_modules\/tinypool\//, /node_modules\/vitest\//, /esbuild.* --service/, new RegExp(REAPER_NAME)]

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1')
  } catch {
    return undefined // gone, or not ours to read
  }
}

function processes(runId: string, runDir: string): Map<number, ProcessInfo> {
  const table = new Map<number, ProcessInfo>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = read(`/proc/${entry}/stat`)
    if (stat === undefined) continue
    // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
    const [state = '', ppid = '0', pgid = '0'] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const command = (read(`/proc/${entry}/cmdline`) ?? '').replaceAll('\0', ' ').trim()
    let cwd = ''
    try {
      cwd = readlinkSync(`/proc/${entry}/cwd`)
    } catch {
      // not ours to read
    }
    const environ = read(`/proc/${entry}/environ`) ?? ''
    const marked = environ.split('\0').includes(`PARLEY_TEST_RUN=${runId}`) || command.includes(runDir) || cwd.startsWith(runDir)
    table.set(Number(entry), { pid: Number(entry), ppid: Number(ppid), pgid: Number(pgid), state, command, marked })
  }
  return table
}

/** The processes this run left running. */
export function leftovers(runId: string, runDir: string): ProcessInfo[] {
  const table = processes(runId, runDir)
  const ancestors = new Set<number>()
  for (let pid = process.pid; pid > 0 && !ancestors.has(pid); pid = table.get(pid)?.ppid ?? 0) ancestors.add(pid)
  const isRuns = (info: ProcessInfo): boolean => {
    for (let seen = 0, current: ProcessInfo | undefined = info; current && seen < 64; current = table.get(current.ppid), seen++) {
      if (ancestors.has(current.pid)) return false
      if (current.marked) return true
    }
    return false
  }
  const descendsFromUs = (info: ProcessInfo): boolean => {
    for (let seen = 0, pid = info.ppid; pid > 0 && seen < 64; pid = table.get(pid)?.ppid ?? 0, seen++) if (pid === process.pid) return true
    return false
  }
  return [...table.values()].filter(info => {
    if (ancestors.has(info.pid) || info.state === 'Z' || info.state === 'X') return false
    if (VITEST_OWN.some(pattern => pattern.test(info.command)) && (descendsFromUs(info) || info.command.includes(REAPER_NAME))) return false
    return isRuns(info)
  })
}

function kill(info: ProcessInfo): void {
  try {
    // A process group of its own (nginx, Chromium) goes whole.
    process.kill(info.pgid === info.pid ? -info.pid : info.pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

export default function setup(): () => Promise<void> {
  const run = startTestRun()
  return async () => {
    let left = leftovers(run.id, run.dir)
    // A process killed a moment ago may not have been reaped yet: look again before blaming it.
    for (let attempt = 0; attempt < 20 && left.length > 0; attempt++) {
      await new Promise(resolve => setTimeout(resolve, 100))
      left = leftovers(run.id, run.dir)
    }
    left.forEach(kill)
    await rm(run.dir, { recursive: true, force: true }).catch(() => undefined)
    if (left.length > 0) {
      const lines = left.map(info => `  ${info.pid} (parent ${info.ppid}): ${info.command.slice(0, 200)}`)
      throw new Error(`the tests left ${left.length} process(es) running (now killed):\n${lines.join('\n')}`)
    }
  }
}
