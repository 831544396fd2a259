/**
 * A real parley-server process for the browser tests: a free port, its own data
 * directory, and no secret configured, so it runs on its development secret (the web
 * app's development sign-in exists) and serves the built app at `/`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
// By path, as the server's bin below: the web client does not depend on the server package.
import { reapOnExit } from '../../../../../sync-server/src/child-reaper.ts'

const BIN = fileURLToPath(new URL('../../../../../sync-server/bin/parley-server.js', import.meta.url))

export class WebServer {
  readonly url: string
  readonly #child: ChildProcess
  readonly #dataDir: string
  readonly #log: () => string

  private constructor(url: string, child: ChildProcess, dataDir: string, log: () => string) {
    this.url = url
    this.#child = child
    this.#dataDir = dataDir
    this.#log = log
  }

  static async start(): Promise<WebServer> {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-web-'))
    const child = reapOnExit(spawn(process.execPath, [BIN, '--port', '0', '--data', dataDir, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] }))
    let log = ''
    const url = await new Promise<string>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        log += chunk.toString()
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log)
        if (match) resolve(match[1]!)
      }
      child.stdout!.on('data', onData)
      child.stderr!.on('data', onData)
      child.once('exit', code => reject(new Error(`parley-server exited with ${code} before listening:\n${log}`)))
    })
    return new WebServer(url, child, dataDir, () => log)
  }

  get syncUrl(): string {
    return `${this.url.replace(/^http/, 'ws')}/sync`
  }

  /** What the server logged (warnings and errors), for failure messages. */
  get log(): string {
    return this.#log()
  }

  /** A token from the development sign-in, as the web app gets one. */
  async token(user: string): Promise<string> {
    const response = await fetch(`${this.url}/v1/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user }) })
    if (response.status !== 201) throw new Error(`development sign-in answered ${response.status}: ${await response.text()}`)
    return ((await response.json()) as { token: string }).token
  }

  async stop(): Promise<void> {
    const child = this.#child
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }
    await rm(this.#dataDir, { recursive: true, force: true })
  }
}
