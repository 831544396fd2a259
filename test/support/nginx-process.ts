/**
 * nginx in front of a cluster, for end-to-end tests: runs deploy/nginx.conf itself,
 * with the nodes' ports and a free listening port put in place of the ones it names,
 * under a temp prefix directory. Never port 80, never the system's nginx instance.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '@parley/benchmarks/processes'
import { reapOnExit } from '@parley/sync-server/testing'

const CONFIG = fileURLToPath(new URL('../../deploy/nginx.conf', import.meta.url))
const NGINX = process.env.PARLEY_NGINX ?? '/usr/sbin/nginx'
/** The node ports and the listening address deploy/nginx.conf is written for. */
const DEPLOY_NODE_PORTS = [8791, 8792, 8793]
const DEPLOY_LISTEN = '127.0.0.1:8080'

function accepts(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

export class NginxProcess {
  readonly port: number
  readonly #prefix: string
  readonly #child: ChildProcess
  #log = ''

  private constructor(port: number, prefix: string, child: ChildProcess) {
    this.port = port
    this.#prefix = prefix
    this.#child = child
    child.stdout!.on('data', chunk => (this.#log += chunk))
    child.stderr!.on('data', chunk => (this.#log += chunk))
  }

  /** Starts nginx balancing over these node ports (three, as deploy/nginx.conf has). */
  static async start(nodePorts: number[]): Promise<NginxProcess> {
    if (nodePorts.length !== DEPLOY_NODE_PORTS.length) throw new Error(`deploy/nginx.conf balances ${DEPLOY_NODE_PORTS.length} nodes`)
    const port = await freePort()
    const prefix = await mkdtemp(join(tmpdir(), 'parley-nginx-'))
    // Run as root (CI), nginx's workers drop to `nobody`: they must reach the prefix.
    await chmod(prefix, 0o755)
    await mkdir(join(prefix, 'run'), { mode: 0o777 })
    let config = await readFile(CONFIG, 'utf8')
    if (!config.includes(DEPLOY_LISTEN)) throw new Error(`deploy/nginx.conf no longer listens on ${DEPLOY_LISTEN}`)
    config = config.replaceAll(DEPLOY_LISTEN, `127.0.0.1:${port}`)
    DEPLOY_NODE_PORTS.forEach((deployPort, i) => {
      config = config.replaceAll(`127.0.0.1:${deployPort}`, `127.0.0.1:${nodePorts[i]}`)
    })
    await writeFile(join(prefix, 'nginx.conf'), config)
    // A process group of its own: the master and its workers die together if this process dies first.
    const child = reapOnExit(spawn(NGINX, ['-p', prefix, '-c', 'nginx.conf', '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true }), { group: true })
    const nginx = new NginxProcess(port, prefix, child)
    const exited = new Promise<never>((_, reject) => {
      child.once('error', error => reject(new Error(`cannot start ${NGINX}: ${error.message} (install the nginx package)`)))
      child.once('exit', code => reject(new Error(`nginx exited with ${code}:\n${nginx.#log}`)))
    })
    const listening = (async () => {
      for (let attempt = 0; attempt < 200 && !(await accepts(port)); attempt++) await new Promise(resolve => setTimeout(resolve, 25))
    })()
    await Promise.race([listening, exited])
    exited.catch(() => undefined)
    return nginx
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`
  }

  async stop(): Promise<void> {
    const child = this.#child
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGTERM') // fast shutdown: SIGQUIT would wait for every open WebSocket
      await exited
    }
    await rm(this.#prefix, { recursive: true, force: true })
  }
}
