import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { reapOnExit } from '@parley/sync-server/testing'

const BIN = fileURLToPath(new URL('../../clients/cli/bin/parley.js', import.meta.url))

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `parley ARGS` to completion; `env` adds environment variables. */
export function parley(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const session = interactive(args, env)
  session.child.stdin.end()
  return session.exited
}

/** A running `parley` whose stdin the test writes and whose output it waits on. */
export function interactive(args: string[], env: Record<string, string> = {}) {
  const child: ChildProcessWithoutNullStreams = reapOnExit(spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } }))
  const output = { stdout: '', stderr: '' }
  const waiters: (() => void)[] = []
  const collect = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    output[stream] += chunk
    for (const waiter of [...waiters]) waiter()
  }
  child.stdout.on('data', collect('stdout'))
  child.stderr.on('data', collect('stderr'))
  const exited = new Promise<CliResult>(resolve => child.on('exit', code => resolve({ code, ...output })))
  return {
    child,
    exited,
    output,
    /** Resolves once stdout or stderr (as named) matches. */
    waitFor(stream: 'stdout' | 'stderr', pattern: RegExp): Promise<void> {
      return new Promise(resolve => {
        const check = () => {
          if (!pattern.test(output[stream])) return
          waiters.splice(waiters.indexOf(check), 1)
          resolve()
        }
        waiters.push(check)
        check()
      })
    },
  }
}
