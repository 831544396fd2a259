/** Drives server-host.ts from a test: start, measure, close. */
import type { ServerOptions } from '@parley/sync-server'
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { reapOnExit } from '@parley/sync-server/testing'
import { SignJWT } from 'jose'
import type { HostMeasurement } from './server-host.ts'

const HOST = fileURLToPath(new URL('./server-host.ts', import.meta.url))
export const HOST_SECRET = 'reliability-host-secret-long-enough'

export class ServerHost {
  readonly child: ChildProcess
  readonly url: string
  readonly httpUrl: string
  readonly dataDir: string

  private constructor(child: ChildProcess, url: string, dataDir: string) {
    this.child = child
    this.url = url
    this.httpUrl = url.replace(/^ws/, 'http').replace(/\/sync$/, '')
    this.dataDir = dataDir
  }

  static async start(options: ServerOptions = {}): Promise<ServerHost> {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-host-'))
    const child = reapOnExit(
      fork(HOST, [JSON.stringify({ jwtSecret: HOST_SECRET, dataDir, ...options })], {
        execArgv: ['--expose-gc', '--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    )
    const { url } = await reply<{ url: string }>(child, 'listening')
    return new ServerHost(child, url, dataDir)
  }

  token(user: string): Promise<string> {
    return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setExpirationTime('2h').sign(new TextEncoder().encode(HOST_SECRET))
  }

  async measure(): Promise<HostMeasurement> {
    this.child.send({ type: 'measure' })
    return (await reply<{ measurement: HostMeasurement }>(this.child, 'measured')).measurement
  }

  async census(): Promise<Record<string, { count: number; bytes: number }>> {
    this.child.send({ type: 'census' })
    return (await reply<{ census: Record<string, { count: number; bytes: number }> }>(this.child, 'census')).census
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise(resolve => this.child.once('exit', resolve))
      this.child.send({ type: 'close' })
      await exited
    }
    await rm(this.dataDir, { recursive: true, force: true })
  }
}

function reply<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type: string }): void => {
      if (message.type !== type) return
      child.off('message', onMessage)
      child.off('exit', onExit)
      resolve(message as T)
    }
    const onExit = (code: number | null): void => reject(new Error(`server host exited with ${code} while waiting for ${type}`))
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}
