import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const PARENT = fileURLToPath(new URL('./fixtures/reaper-parent.ts', import.meta.url))

/** Running: neither gone nor a zombie waiting for a parent to reap it. */
function running(pid: number): boolean {
  if (!existsSync(`/proc/${pid}/stat`)) return false
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2))
}

async function untilGone(pids: number[]): Promise<void> {
  while (pids.some(running)) await new Promise(resolve => setTimeout(resolve, 20))
}

describe('reapOnExit', () => {
  // vitest ends a worker with SIGTERM, which runs no exit handler; SIGKILL runs nothing at all.
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`kills the children, and a detached child's whole process group, when their parent dies of ${signal}`, async () => {
      const parent = spawn(process.execPath, ['--import', 'tsx', PARENT], { stdio: ['ignore', 'pipe', 'inherit'] })
      const pids = await new Promise<number[]>(resolve => {
        let out = ''
        parent.stdout!.on('data', chunk => {
          out += chunk
          if (out.includes('\n')) resolve((JSON.parse(out) as { pids: number[] }).pids)
        })
      })
      expect(pids).toHaveLength(3)
      expect(pids.every(running)).toBe(true)
      parent.kill(signal)
      await untilGone(pids)
    })
  }
})
