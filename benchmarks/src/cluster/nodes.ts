/**
 * Parley servers for the cluster benchmark, each a real `parley-server` process on the
 * relay core (`--relay-core`) with its storage in PostgreSQL (`--postgres`, a database of
 * its own created for the setup and dropped after it: sync-server's createTestDatabase,
 * on the machine's PostgreSQL at 127.0.0.1:5432 or a private one): one node alone (no
 * Redis), or N nodes on one throwaway redis-server (docs/cluster.md, "Segments over the bus").
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestDatabase, RedisProcess, type PostgresTestDatabase } from '@parley/sync-server/testing'
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

/**
 * Bus counters summed over every node, heartbeats left out: frames and bytes published to
 * Redis and received from it, on both buses (the repo bus for heads, inboxes and typing;
 * the change bus for segment changes), and the change bus's frames alone.
 */
export interface BusTotals {
  publishedMessages: number
  publishedBytes: number
  receivedMessages: number
  receivedBytes: number
  changeFramesPublished: number
  changeFramesReceived: number
}

/** Starts `count` nodes (on one Redis when `clustered`) sharing a new database, with `args` for each. */
export async function startServers(count: number, clustered: boolean, args: string[] = []): Promise<Servers> {
  const database: PostgresTestDatabase = await createTestDatabase()
  const redis = clustered ? await RedisProcess.start().catch(async error => {
    await database.drop()
    throw error
  }) : undefined
  const dirs: string[] = []
  const nodes: Node[] = []
  const close = async () => {
    await Promise.all(nodes.map(node => stop(node.process)))
    await redis?.stop()
    await database.drop()
    await Promise.all(dirs.map(dir => rm(dir, { recursive: true, force: true })))
  }
  try {
    for (let i = 0; i < count; i++) {
      const port = await freePort()
      const dir = await mkdtemp(join(tmpdir(), 'parley-bench-cluster-'))
      dirs.push(dir)
      const { command, args: base } = SYSTEMS.parley.serverCommand(port, dir, SECRET)
      const bus = redis ? ['--redis', redis.url, '--cluster-heartbeat-ms', String(HEARTBEAT_MS)] : []
      const child = await spawnServer(command, [...base, '--postgres', database.url, '--relay-core', ...bus, ...args])
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

/** A change-bus counter's sample in one direction (0 when absent). */
function changeBus(text: string, name: string, direction: string): number {
  return Number(new RegExp(`^${name}\\{direction="${direction}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0)
}

export async function busTotals(nodes: Node[]): Promise<BusTotals> {
  const totals: BusTotals = { publishedMessages: 0, publishedBytes: 0, receivedMessages: 0, receivedBytes: 0, changeFramesPublished: 0, changeFramesReceived: 0 }
  for (const node of nodes) {
    const text = await (await fetch(`${node.httpUrl}/metrics`)).text()
    const changesPublished = changeBus(text, 'parley_bus_change_frames_total', 'published')
    const changesReceived = changeBus(text, 'parley_bus_change_frames_total', 'received')
    totals.publishedMessages += sumWithoutHeartbeats(text, 'parley_bus_messages_total', 'published') + changesPublished
    totals.publishedBytes += sumWithoutHeartbeats(text, 'parley_bus_bytes_total', 'published') + changeBus(text, 'parley_bus_change_bytes_total', 'published')
    totals.receivedMessages += sumWithoutHeartbeats(text, 'parley_bus_messages_total', 'received') + changesReceived
    totals.receivedBytes += sumWithoutHeartbeats(text, 'parley_bus_bytes_total', 'received') + changeBus(text, 'parley_bus_change_bytes_total', 'received')
    totals.changeFramesPublished += changesPublished
    totals.changeFramesReceived += changesReceived
  }
  return totals
}

/** Per message, between two readings. */
export function busPerMessage(before: BusTotals, after: BusTotals, messages: number): BusTotals {
  const per = (key: keyof BusTotals) => Math.round(((after[key] - before[key]) / messages) * 10) / 10
  return {
    publishedMessages: per('publishedMessages'),
    publishedBytes: per('publishedBytes'),
    receivedMessages: per('receivedMessages'),
    receivedBytes: per('receivedBytes'),
    changeFramesPublished: per('changeFramesPublished'),
    changeFramesReceived: per('changeFramesReceived'),
  }
}
