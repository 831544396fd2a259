/**
 * The end-of-run check (test/support/leftover-processes.ts) finds what a run left
 * running: a process marked with the run's ID, one working in the run's TMPDIR whose
 * environment is gone (redis-server and nginx overwrite theirs with a process title), and
 * their children; and nothing of another run's.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { leftovers } from '../support/leftover-processes.ts'

const started: ChildProcess[] = []
afterEach(() => {
  for (const child of started.splice(0)) child.kill('SIGKILL')
})

function sleeper(env: Record<string, string>, cwd?: string): Promise<ChildProcess> {
  // `exec` keeps the PID; the echo says the program is running with this environment.
  const child = spawn('bash', ['-c', 'echo up; exec sleep 600'], { env, cwd, stdio: ['ignore', 'pipe', 'ignore'] })
  started.push(child)
  return new Promise(resolve => child.stdout!.once('data', () => resolve(child)))
}

describe('leftovers', () => {
  it("lists the run's processes found by its ID or its directory, and not another run's", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-fake-run-'))
    try {
      const base = { PATH: process.env.PATH ?? '/usr/bin:/bin' }
      const byId = await sleeper({ ...base, PARLEY_TEST_RUN: 'fake-run-1' })
      const byDir = await sleeper(base, dir)
      const other = await sleeper({ ...base, PARLEY_TEST_RUN: 'fake-run-2' })
      const found = leftovers('fake-run-1', dir).map(info => info.pid)
      expect(found).toEqual(expect.arrayContaining([byId.pid, byDir.pid]))
      expect(found).not.toContain(other.pid)
      expect(found).not.toContain(process.pid)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
