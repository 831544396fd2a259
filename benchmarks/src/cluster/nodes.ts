/**
 * Parley servers for the cluster benchmark: one node alone (no Redis), or N nodes on one
 * throwaway redis-server, each a real `parley-server` process with its own LevelDB.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RedisProcess } from '@parley/sync-server/testing'
import { SYSTEMS } from '../latency/systems.ts'
import { freePort, spawnServer, stop } from '../lib/processes.ts'
import { SECRET } from '../fanout/system.ts'

/** Heartbeats as in production (1 s): the benchmark must not flatter or burden the bus. */
const HEARTBEAT_MS = 1000

export interface Node {
  process: ChildProcess
  url: string
  httpUrl: string
}

export interface Servers {
  nodes: Node[]
  /** Undefined for a single node without a bus. */
  redis: RedisProcess | undefined
  close(): Promise<void>
}

/** Bus counters summed over every node: frames and bytes published and received, heartbeats left out. */
export interface BusTotals {
  publishedMessages: number
  publishedBytes: number
  receivedMessages: number
  receivedBytes: number
}

/** Starts `count` nodes (on one Redis when `clustered`), with `args` for each. */
export async function startServers(count: number, clustered: boolean, args: string[] = []): Promise<Servers> {
  const redis = clustered ? await RedisProcess.start() : undefined
  const dirs: string[] = []
  const nodes: Node[] = []
  const close = async () => {
    await Promise.all(nodes.map(node => stop(node.process)))
    await redis?.stop()
    await Promise.all(dirs.map(dir => rm(dir, { recursive: true, force: true })))
  }
  try {
    for (let i = 0; i < count; i++) {
      const port = await freePort()
      const dir = await mkdtemp(join(tmpdir(), 'parley-bench-cluster-'))
      dirs.push(dir)
      const { command, args: base } = SYSTEMS.parley.serverCommand(port, dir, SECRET)
      const bus = redis ? ['--redis', redis.url, '--cluster-heartbeat-ms', String(HEARTBEAT_MS)] : []
      const child = await spawnServer(command, [...base, ...bus, ...args])
      nodes.push({ process: child, url: `ws://127.0.0.1:${port}/sync`, httpUrl: `http://127.0.0.1:${port}` })
    }
    if (redis) await meshed(nodes)
    return { nodes, redis, close }
  } catch (error) {
    await close()
    throw error
  }
}

async function meshed(nodes: Node[]): Promise<void> {
  const deadline = Date.now() + 30_000
  for (;;) {
    const sessions = await Promise.all(nodes.map(async node => ((await (await fetch(`${node.httpUrl}/healthz`)).json()) as { cluster: { nodes: number } }).cluster.nodes))
    if (sessions.every(count => count === nodes.length - 1)) return
    if (Date.now() > deadline) throw new Error(`the nodes did not all meet on the bus (sessions: ${sessions.join(', ')})`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/** The sum of a counter's samples in one direction over every frame kind but heartbeats (`hello`). */
function sumWithoutHeartbeats(text: string, name: string, direction: string): number {
  const pattern = new RegExp(`^${name}\\{direction="${direction}",kind="([a-z]+)"\\} (\\S+)$`, 'gm')
  let sum = 0
  for (const [, kind, value] of text.matchAll(pattern)) if (kind !== 'hello') sum += Number(value)
  return sum
}

export async function busTotals(nodes: Node[]): Promise<BusTotals> {
  const totals: BusTotals = { publishedMessages: 0, publishedBytes: 0, receivedMessages: 0, receivedBytes: 0 }
  for (const node of nodes) {
    const text = await (await fetch(`${node.httpUrl}/metrics`)).text()
    totals.publishedMessages += sumWithoutHeartbeats(text, 'parley_bus_messages_total', 'published')
    totals.publishedBytes += sumWithoutHeartbeats(text, 'parley_bus_bytes_total', 'published')
    totals.receivedMessages += sumWithoutHeartbeats(text, 'parley_bus_messages_total', 'received')
    totals.receivedBytes += sumWithoutHeartbeats(text, 'parley_bus_bytes_total', 'received')
  }
  return totals
}

/** Per message, between two readings. */
export function busPerMessage(before: BusTotals, after: BusTotals, messages: number): BusTotals {
  const per = (key: keyof BusTotals) => Math.round(((after[key] - before[key]) / messages) * 10) / 10
  return { publishedMessages: per('publishedMessages'), publishedBytes: per('publishedBytes'), receivedMessages: per('receivedMessages'), receivedBytes: per('receivedBytes') }
}
