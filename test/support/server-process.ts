/**
 * A real parley-server process for end-to-end tests: spawned from the package's bin,
 * on a free port, with its own LevelDB directory; killable with any signal and
 * restartable on the same data and port. `PARLEY_PROFILE_DIR=dir` writes a CPU profile
 * of each server process there (as `BENCH_PROFILE_DIR` does for the benchmarks).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '@parley/benchmarks/processes'
import { reapOnExit } from '@parley/sync-server/testing'
import { SignJWT } from 'jose'

const BIN = fileURLToPath(new URL('../../sync-server/bin/parley-server.js', import.meta.url))
const SECRET = 'end-to-end-test-secret-of-enough-length'
const PROFILE = process.env.PARLEY_PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.PARLEY_PROFILE_DIR] : []

export class ServerProcess {
  readonly port: number
  readonly dataDir: string
  readonly #args: string[]
  #child: ChildProcess | undefined
  #log = ''

  private constructor(port: number, dataDir: string, args: string[]) {
    this.port = port
    this.dataDir = dataDir
    this.#args = args
  }

  /** `args` are extra flags, e.g. `--tls-cert FILE --tls-key FILE`. */
  static async start(args: string[] = [], options: { dataDir?: string } = {}): Promise<ServerProcess> {
    const server = new ServerProcess(await freePort(), options.dataDir ?? (await mkdtemp(join(tmpdir(), 'parley-e2e-'))), args)
    await server.restart()
    return server
  }

  get url(): string {
    return `${this.#args.includes('--tls-cert') ? 'wss' : 'ws'}://127.0.0.1:${this.port}`
  }

  /** The HS256 secret the process verifies tokens with. */
  get secret(): string {
    return SECRET
  }

  get log(): string {
    return this.#log
  }

  /** The running process's ID (for /proc memory readings); undefined when not running. */
  get pid(): number | undefined {
    const child = this.#child
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined
  }

  token(user: string, ttl = '1h'): Promise<string> {
    return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setExpirationTime(ttl).sign(new TextEncoder().encode(SECRET))
  }

  /** Starts the process (again) on the same port and data; resolves once it listens. */
  async restart(): Promise<void> {
    const child = reapOnExit(
      spawn(process.execPath, [...PROFILE, BIN, '--port', String(this.port), '--data', this.dataDir, '--jwt-secret', SECRET, '--log-level', 'warn', ...this.#args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    )
    this.#child = child
    await new Promise<void>((resolve, reject) => {
      // This start's own output: the log still holds the last start's "listening" line.
      let output = ''
      const onData = (chunk: Buffer): void => {
        this.#log += chunk.toString()
        output += chunk.toString()
        if (new RegExp(`listening on https?://127\\.0\\.0\\.1:${this.port}`).test(output)) resolve()
      }
      child.stdout!.on('data', onData)
      child.stderr!.on('data', onData)
      child.once('exit', code => reject(new Error(`parley-server exited with ${code} before listening:\n${this.#log}`)))
    })
  }

  /** Sends a signal and waits for the process to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const child = this.#child
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null
    const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
    child.kill(signal)
    return exited
  }

  async stop(): Promise<void> {
    // A profiled process must exit by itself to write its profile.
    await this.kill(PROFILE.length > 0 ? 'SIGTERM' : 'SIGKILL')
    await rm(this.dataDir, { recursive: true, force: true })
  }
}
