/**
 * A cluster for the fault tests: real parley-server processes with `--redis`, `--postgres`
 * and `--relay-core` (docs/cluster.md, "Segments over the bus"), a private redis-server, a
 * private PostgreSQL server the test may restart (cluster-postgres.ts) holding a database
 * of the file's own, a webhook receiver (cluster-webhooks.ts) given to every node, and
 * optionally nodes whose Redis link passes a proxy that can lose their segment frames
 * (cluster-redis-proxy.ts).
 */
import { createClient, type ParleyClient } from '@parley/client'
import { createTestDatabase, RedisProcess, type PostgresTestDatabase } from '@parley/sync-server/testing'
import { ServerProcess } from '../support/server-process.ts'
import { FAST_RECONNECT, metricValue, scrape } from './support/clients.ts'
import { RestartablePostgres } from './cluster-postgres.ts'
import { DroppingRedisProxy } from './cluster-redis-proxy.ts'
import { WebhookReceiver } from './cluster-webhooks.ts'

const WEBHOOK_SECRET = 'cluster-fault-tests-webhook-secret'
export const WAIT_MS = 90_000

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Polls `probe` until `done` holds; past `ms`, fails naming `what` and the last value seen. */
export async function until<T>(what: string, probe: () => Promise<T> | T, done: (value: T) => boolean, options: { ms?: number; describe?: (value: T) => unknown } = {}): Promise<T> {
  const ms = options.ms ?? WAIT_MS
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (done(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}; last seen: ${JSON.stringify(options.describe ? options.describe(value) : value)?.slice(0, 3000)}`)
    await sleep(100)
  }
}

export class FaultCluster {
  readonly nodes: ServerProcess[] = []
  readonly clients: ParleyClient[] = []
  postgres!: RestartablePostgres
  database!: PostgresTestDatabase
  redis!: RedisProcess
  proxy: DroppingRedisProxy | undefined
  receiver!: WebhookReceiver

  /** `count` nodes; those listed in `proxied` reach Redis through the dropping proxy. */
  static async start(count: number, options: { proxied?: number[] } = {}): Promise<FaultCluster> {
    const cluster = new FaultCluster()
    try {
      cluster.postgres = await RestartablePostgres.start()
      const setting = process.env.PARLEY_TEST_POSTGRES
      process.env.PARLEY_TEST_POSTGRES = cluster.postgres.url
      try {
        cluster.database = await createTestDatabase()
      } finally {
        if (setting === undefined) delete process.env.PARLEY_TEST_POSTGRES
        else process.env.PARLEY_TEST_POSTGRES = setting
      }
      cluster.redis = await RedisProcess.start()
      if (options.proxied?.length) cluster.proxy = await DroppingRedisProxy.start(cluster.redis.port)
      cluster.receiver = await WebhookReceiver.start()
      for (let i = 0; i < count; i++) cluster.nodes.push(await ServerProcess.start(cluster.args(options.proxied?.includes(i) ? cluster.proxy!.url : cluster.redis.url)))
      await cluster.meshed()
      return cluster
    } catch (error) {
      await cluster.close()
      throw error
    }
  }

  args(redisUrl = this.redis.url): string[] {
    return ['--redis', redisUrl, '--postgres', this.database.url, '--relay-core', '--cluster-heartbeat-ms', '200', '--webhook-url', this.receiver.url, '--webhook-secret', WEBHOOK_SECRET]
  }

  /** A node started now, with no client and nothing loaded. */
  async addNode(): Promise<ServerProcess> {
    const node = await ServerProcess.start(this.args())
    this.nodes.push(node)
    await this.meshed()
    return node
  }

  /** Resolves once every running node is in a repo-bus session with every other. */
  async meshed(): Promise<void> {
    const running = this.nodes.filter(node => node.pid !== undefined)
    // -1: not answering (yet: ServerProcess.restart resolves on the earlier run's "listening" line).
    const sessions = async (node: ServerProcess) => {
      try {
        return ((await (await fetch(`http://127.0.0.1:${node.port}/healthz`)).json()) as { cluster: { nodes: number } }).cluster.nodes
      } catch {
        return -1
      }
    }
    await until(
      'every node to meet every other on the bus',
      () => Promise.all(running.map(sessions)),
      counts => counts.every(count => count === running.length - 1),
      { describe: counts => counts.map((count, i) => (count >= 0 ? count : `:${running[i]!.port} not answering; log ends ${running[i]!.log.slice(-1500)}`)) },
    )
  }

  /** A client of `user` on the nodes at `order` (the first, then the next when it fails). */
  async connect(user: string, order: number[]): Promise<ParleyClient> {
    const servers = order.map(i => this.nodes[i]!)
    const client = await createClient({ server: servers.map(node => node.url), token: () => servers[0]!.token(user), storage: { kind: 'memory' }, reconnect: FAST_RECONNECT })
    this.clients.push(client)
    return client
  }

  async metric(node: ServerProcess, sample: string, labels?: string): Promise<number> {
    const value = metricValue(await scrape(`http://127.0.0.1:${node.port}`), sample, labels)
    return Number.isNaN(value) ? 0 : value
  }

  /** A GET, or with `json` a POST of it, as `user`. */
  async http(node: ServerProcess, user: string, path: string, json?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const headers = { authorization: `Bearer ${await node.token(user)}`, ...(json !== undefined && { 'content-type': 'application/json' }) }
    const response = await fetch(`http://127.0.0.1:${node.port}${path}`, json === undefined ? { headers } : { method: 'POST', headers, body: JSON.stringify(json) })
    return { status: response.status, body: (await response.json().catch(() => ({}))) as Record<string, unknown> }
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.splice(0).map(client => client.close()))
    await Promise.all(this.nodes.map(node => node.stop()))
    await this.proxy?.close()
    await this.receiver?.close()
    await this.redis?.stop()
    await this.database?.drop().catch(() => undefined) // the server is removed next anyway
    await this.postgres?.destroy()
  }
}
