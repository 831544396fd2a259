/**
 * A real parley-server process for tests that kill it (SIGKILL) and start it again on the
 * same data directory. Killed at the end of the test by the cleanup it registers, and
 * when the test process ends however (reapOnExit).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { mintToken } from '../src/auth/tokens.ts'
import { freePort } from '../src/free-port.ts'
import { reapOnExit } from '../src/testing.ts'

const BIN = fileURLToPath(new URL('../bin/parley-server.js', import.meta.url))
export const CHILD_SECRET = 'server-child-test-secret-long-enough'

export interface ServerChild {
  httpUrl: string
  /** ws://…/sync */
  url: string
  token(user: string): Promise<string>
  process: ChildProcess
  /** Resolves with the first output line that contains `text`. */
  line(text: string): Promise<string>
  exited: Promise<unknown>
  /** SIGKILL, and the exit. */
  kill(): Promise<void>
}

/** Starts the server with `args` on `dataDir`; `cleanups` gets its kill. Resolves once it listens. */
export async function startServerChild(dataDir: string, args: string[], cleanups: (() => Promise<unknown>)[], env: Record<string, string> = {}): Promise<ServerChild> {
  const port = await freePort()
  const child = reapOnExit(
    spawn(process.execPath, [BIN, '--port', String(port), '--data', dataDir, '--jwt-secret', CHILD_SECRET, '--log-format', 'json', ...args], {
      env: { ...process.env, PARLEY_RELAY_CORE: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
  const exited = new Promise(resolve => child.once('exit', resolve))
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  }
  cleanups.push(kill)
  let output = ''
  const waiting: { text: string; resolve: (line: string) => void }[] = []
  const take = (chunk: Buffer) => {
    output += chunk.toString()
    for (const wait of [...waiting]) {
      const found = output.split('\n').find(line => line.includes(wait.text))
      if (found !== undefined) {
        waiting.splice(waiting.indexOf(wait), 1)
        wait.resolve(found)
      }
    }
  }
  child.stdout!.on('data', take)
  child.stderr!.on('data', take)
  const line = (text: string) =>
    new Promise<string>((resolve, reject) => {
      const found = output.split('\n').find(candidate => candidate.includes(text))
      if (found !== undefined) return resolve(found)
      waiting.push({ text, resolve })
      void exited.then(() => reject(new Error(`the server exited before printing ${JSON.stringify(text)}:\n${output}`)))
    })
  await line('parley-server listening')
  return { process: child, line, exited, kill, httpUrl: `http://127.0.0.1:${port}`, url: `ws://127.0.0.1:${port}/sync`, token: user => mintToken(CHILD_SECRET, user) }
}
