/**
 * The servers under test: one node, or several sharing a Redis (cluster mode, when the
 * server supports `--redis`). Redis is a real redis-server on a free port that the soak
 * can bounce. Cluster support is probed first; without it the soak says what is missing.
 */
import { freePort } from '@parley/benchmarks/processes'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { ServerProcess } from '../support/server-process.ts'

const BIN = fileURLToPath(new URL('../../sync-server/bin/parley-server.js', import.meta.url))

/** Why cluster mode cannot run, or undefined when the server accepts --redis. */
export function clusterUnsupported(): string | undefined {
  const help = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' })
  if (!help.stdout.includes('--redis')) return 'parley-server --help lists no --redis flag'
  // A release that lists the flag before it works refuses it before reading other options;
  // an invalid port then tells the two apart without starting a server.
  const probe = spawnSync(process.execPath, [BIN, '--redis', 'redis://127.0.0.1:1', '--port', '99999', '--jwt-secret', 'probe-secret-long-enough'], { encoding: 'utf8', timeout: 20_000 })
  const said = `${probe.stdout}${probe.stderr}`
  if (/not yet supported|NOT_SUPPORTED/.test(said)) return `parley-server refuses --redis: ${said.trim().split('\n')[0]}`
  return undefined
}

export class RedisProcess {
  readonly port: number
  #child: ChildProcess | undefined

  private constructor(port: number) {
    this.port = port
  }

  static async start(): Promise<RedisProcess> {
    const redis = new RedisProcess(await freePort())
    await redis.restart()
    return redis
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  async restart(): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child = child
    await new Promise<void>((resolve, reject) => {
      let log = ''
      child.stdout!.on('data', chunk => {
        log += chunk
        if (/Ready to accept connections/.test(log)) resolve()
      })
      child.once('exit', code => reject(new Error(`redis-server exited with ${code}: ${log}`)))
    })
  }

  async kill(): Promise<void> {
    const child = this.#child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }
}

export interface Deployment {
  nodes: ServerProcess[]
  redis?: RedisProcess
  stop(): Promise<void>
}

export async function deploy(nodes: number, extraArgs: string[]): Promise<Deployment> {
  if (nodes === 1) {
    const node = await ServerProcess.start(extraArgs)
    return { nodes: [node], stop: () => node.stop() }
  }
  const redis = await RedisProcess.start()
  const started: ServerProcess[] = []
  for (let i = 0; i < nodes; i++) started.push(await ServerProcess.start(['--redis', redis.url, ...extraArgs]))
  return {
    nodes: started,
    redis,
    async stop() {
      await Promise.all(started.map(node => node.stop()))
      await redis.kill()
    },
  }
}
