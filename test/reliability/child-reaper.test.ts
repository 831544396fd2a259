/**
 * The children tests start die with the test process (sync-server/src/child-reaper.ts)
 * through one reaper and one `exit` listener, however many test files that process runs:
 * this project runs its files one after another in one fork, which evaluates the module
 * afresh for each, and each copy used to add its own (Node warned past ten: "11 exit
 * listeners added to [process]"). The fixture loads two copies, as two files would.
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { reapOnExit } from '@parley/sync-server/testing'
import { describe, expect, it } from 'vitest'

const FIXTURE = fileURLToPath(new URL('./support/reaper-copies.ts', import.meta.url))

/** Running: neither gone nor a zombie waiting for a parent to reap it. */
function running(pid: number): boolean {
  if (!existsSync(`/proc/${pid}/stat`)) return false
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2))
}

describe('the child reaper, loaded once per test file', () => {
  it('adds one reaper and one exit listener per process, and still kills every child when the process dies', async () => {
    const parent = reapOnExit(spawn(process.execPath, ['--import', 'tsx', FIXTURE], { stdio: ['ignore', 'pipe', 'inherit'] }))
    try {
      const report = await new Promise<{ pids: number[]; copies: number; exitListeners: number; reapers: number }>((resolve, reject) => {
        let out = ''
        parent.stdout.on('data', chunk => {
          out += chunk
          if (out.includes('\n')) resolve(JSON.parse(out))
        })
        parent.once('exit', code => reject(new Error(`the fixture exited with ${code} before reporting`)))
      })
      expect(report.copies, 'two module instances').toBe(2)
      expect(report.pids.every(running)).toBe(true)
      expect(report.exitListeners).toBe(1)
      expect(report.reapers).toBe(1)
      // SIGKILL runs no exit listener: the reaper alone kills them.
      parent.kill('SIGKILL')
      while (report.pids.some(running)) await new Promise(resolve => setTimeout(resolve, 20))
    } finally {
      parent.kill('SIGKILL')
    }
  })
})
