/**
 * A throwaway redis-server for tests and benchmarks: its own port on 127.0.0.1, its own
 * directory, no persistence; stoppable and restartable on the same port (to drop the
 * bus under a running cluster). Never the machine's shared instance.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { reapOnExit, untilReady } from '../child-reaper.ts'
import { freePort } from '../free-port.ts'

const REDIS_SERVER = process.env.PARLEY_REDIS_SERVER ?? 'redis-server'

export class RedisProcess {
  readonly port: number
  readonly dir: string
  #child: ChildProcess | undefined

  private constructor(port: number, dir: string) {
    this.port = port
    this.dir = dir
  }

  static async start(): Promise<RedisProcess> {
    const redis = new RedisProcess(await freePort(), await mkdtemp(join(tmpdir(), 'parley-redis-')))
    await redis.restart()
    return redis
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  get running(): boolean {
    return this.#child !== undefined
  }

  /** Starts redis-server (again) on the same port; resolves once it accepts connections. */
  async restart(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'notice']
    let child: ChildProcess
    try {
      child = reapOnExit(spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] }))
    } catch (cause) {
      throw new Error(`cannot start ${REDIS_SERVER} (install the redis-server package)`, { cause })
    }
    this.#child = child
    await untilReady(child, /Ready to accept connections/, `${REDIS_SERVER} (install the redis-server package)`)
  }

  /** Kills redis-server (SIGKILL: the bus vanishes at once) and waits for it to exit. */
  async kill(): Promise<void> {
    const child = this.#child
    this.#child = undefined
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }

  async stop(): Promise<void> {
    await this.kill()
    await rm(this.dir, { recursive: true, force: true })
  }
}
