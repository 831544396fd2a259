/**
 * A private PostgreSQL server the cluster fault tests can stop and start under running
 * nodes: initdb in a temporary directory, a free port on 127.0.0.1, trust auth, no fsync
 * (as sync-server/src/storage/postgres/test-database.ts starts one, which offers no
 * restart). `restart()` is a fast shutdown (SIGINT) then a start on the same port and data.
 * As root the server runs as the postgres user (PostgreSQL refuses root).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { chownSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '@parley/benchmarks/processes'
import { postgresBinDir, reapOnExit, untilReady } from '@parley/sync-server/testing'

function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  return { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) }
}

export class RestartablePostgres {
  readonly port: number
  readonly #dir: string
  readonly #bin: string
  readonly #user: { uid: number; gid: number } | undefined
  #child: ChildProcess | undefined

  private constructor(port: number, dir: string, bin: string, user: { uid: number; gid: number } | undefined) {
    this.port = port
    this.#dir = dir
    this.#bin = bin
    this.#user = user
  }

  static async start(): Promise<RestartablePostgres> {
    const bin = postgresBinDir()
    if (bin === undefined) throw new Error('no PostgreSQL on this machine: install the postgresql package or set PARLEY_POSTGRES_BIN')
    const user = runAs()
    const dir = await mkdtemp(join(user ? '/tmp' : tmpdir(), 'parley-cluster-postgres-'))
    if (user) chownSync(dir, user.uid, user.gid)
    const server = new RestartablePostgres(await freePort(), dir, bin, user)
    try {
      execFileSync(join(bin, 'initdb'), ['-D', server.#data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], { stdio: 'pipe', ...user })
      await server.#launch()
    } catch (error) {
      await server.destroy()
      throw error
    }
    return server
  }

  /** The server's URL (database `postgres`); createTestDatabase makes a database of its own on it. */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`
  }

  get #data(): string {
    return join(this.#dir, 'data')
  }

  /** Fast shutdown: every connection of every node is cut. */
  async stop(): Promise<void> {
    const child = this.#child
    this.#child = undefined
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGINT')
    await exited
  }

  async restart(): Promise<void> {
    await this.stop()
    await this.#launch()
  }

  /** Stops the server and removes its directory. */
  async destroy(): Promise<void> {
    await this.stop()
    await rm(this.#dir, { recursive: true, force: true })
  }

  async #launch(): Promise<void> {
    const args = ['-D', this.#data, '-p', String(this.port), '-h', '127.0.0.1', '-k', this.#dir, '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']
    const child = reapOnExit(spawn(join(this.#bin, 'postgres'), args, { stdio: ['ignore', 'pipe', 'pipe'], ...this.#user }))
    this.#child = child
    await untilReady(child, /ready to accept connections/, 'postgres')
  }
}
