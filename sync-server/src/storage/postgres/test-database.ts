/**
 * PostgreSQL for tests: each caller gets its own database (a random name) and drops it
 * afterwards, so tests never see or disturb each other's rows or the machine's.
 *
 * The server is the one PARLEY_TEST_POSTGRES names (default postgres://postgres@127.0.0.1:5432,
 * trust auth). When that default answers nothing, or PARLEY_TEST_POSTGRES=private, a
 * private server is started instead: initdb in a temporary directory, a free port on
 * 127.0.0.1, trust auth, no fsync, stopped by `drop()` (and killed with the test worker at
 * the latest). scripts/test-prerequisites.sh installs Debian's postgresql when the
 * machine has neither.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chownSync, existsSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { reapOnExit, untilReady } from '../../child-reaper.ts'
import { PostgresPool } from './pool.ts'
import { freePort } from '../../free-port.ts'

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432'

export interface PostgresTestDatabase {
  /** Connection URL of the new, empty database. */
  readonly url: string
  /** Drops the database (and stops the private server, if one was started for it). */
  drop(): Promise<void>
}

/** Creates an empty database with a random name; call `drop()` in the test's teardown. */
export async function createTestDatabase(): Promise<PostgresTestDatabase> {
  const setting = process.env.PARLEY_TEST_POSTGRES
  let server: PrivatePostgres | undefined
  let serverUrl = setting !== undefined && setting !== 'private' ? setting : DEFAULT_URL
  if (setting === 'private' || (setting === undefined && !(await answers(serverUrl)))) {
    server = await PrivatePostgres.start()
    serverUrl = server.url
  }
  const name = `parley_test_${randomBytes(6).toString('hex')}`
  const admin = new PostgresPool(withDatabase(serverUrl, 'postgres'), { max: 1 })
  try {
    await admin.query(`CREATE DATABASE ${name}`)
  } catch (error) {
    await admin.close()
    await server?.stop()
    throw error
  }
  return {
    url: withDatabase(serverUrl, name),
    async drop() {
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await admin.close()
        await server?.stop()
      }
    },
  }
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

async function answers(url: string): Promise<boolean> {
  const probe = new PostgresPool(withDatabase(url, 'postgres'), { max: 1 })
  try {
    await probe.query('SELECT 1')
    return true
  } catch {
    return false
  } finally {
    await probe.close()
  }
}

/** Where initdb and postgres are: PARLEY_POSTGRES_BIN, PATH, or Debian's newest version. */
export function postgresBinDir(): string | undefined {
  if (process.env.PARLEY_POSTGRES_BIN) return process.env.PARLEY_POSTGRES_BIN
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) return dir
  }
  const debian = '/usr/lib/postgresql'
  if (!existsSync(debian)) return undefined
  const versions = readdirSync(debian).filter(v => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
  return versions.map(v => join(debian, v, 'bin')).find(dir => existsSync(join(dir, 'initdb')))
}

/** PostgreSQL refuses to run as root: as root, the server runs as the postgres user. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  try {
    return { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) }
  } catch (cause) {
    throw new Error('a private PostgreSQL cannot run as root and there is no postgres user (install the postgresql package)', { cause })
  }
}

class PrivatePostgres {
  readonly url: string
  readonly #dir: string
  readonly #child: ChildProcess

  private constructor(url: string, dir: string, child: ChildProcess) {
    this.url = url
    this.#dir = dir
    this.#child = child
  }

  static async start(): Promise<PrivatePostgres> {
    const bin = postgresBinDir()
    if (bin === undefined) throw new Error('no PostgreSQL on this machine: install the postgresql package, set PARLEY_POSTGRES_BIN, or set PARLEY_TEST_POSTGRES to a server URL')
    const user = runAs()
    // The test run's TMPDIR is private to root; the postgres user needs a directory it can reach.
    // (The server still carries PARLEY_TEST_RUN in its environment: the leftover check sees it.)
    const dir = await mkdtemp(join(user ? '/tmp' : tmpdir(), 'parley-postgres-'))
    if (user) chownSync(dir, user.uid, user.gid)
    const data = join(dir, 'data')
    try {
      execFileSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], { stdio: 'pipe', ...user })
    } catch (cause) {
      await rm(dir, { recursive: true, force: true })
      throw new Error(`initdb failed: ${String((cause as { stderr?: Buffer }).stderr ?? cause)}`, { cause })
    }
    const port = await freePort()
    const args = ['-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir, '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']
    const child = reapOnExit(spawn(join(bin, 'postgres'), args, { stdio: ['ignore', 'pipe', 'pipe'], ...user }))
    try {
      await untilReady(child, /ready to accept connections/, 'postgres')
    } catch (error) {
      child.kill('SIGKILL')
      await rm(dir, { recursive: true, force: true })
      throw error
    }
    return new PrivatePostgres(`postgres://postgres@127.0.0.1:${port}/postgres`, dir, child)
  }

  /** Fast shutdown (SIGINT: backends end, no checkpoint wait), then the directory goes. */
  async stop(): Promise<void> {
    const child = this.#child
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGINT')
      await exited
    }
    await rm(this.#dir, { recursive: true, force: true })
  }
}
