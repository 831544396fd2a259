/**
 * Cluster mode (`--redis`): this node joins the others on one Redis pub/sub bus. The
 * bus adapter makes every node an automerge-repo peer of every other; the server's repo
 * shares every document with them (they are trusted: their changes passed their own
 * guard), and registry facts travel with the changes. See docs/cluster.md.
 */
import type { PeerId } from '@automerge/automerge-repo'
import type { Registry } from 'prom-client'
import type { AccessRegistry } from '../access/registry.ts'
import { RedisBusAdapter, type BusLogger } from './bus-adapter.ts'
import { busMetrics } from './bus-metrics.ts'
import { locateOverBus, registryFacts } from './registry-facts.ts'

export interface ClusterOptions {
  redisUrl: string
  heartbeatMs: number
  registry: AccessRegistry
  /** The server's Prometheus registry, for the bus metrics. */
  metrics: Registry
  log: BusLogger
  /** The nodes share one registry in PostgreSQL (--postgres), not one LevelDB each. */
  sharedRegistry: boolean
}

export interface Cluster {
  readonly adapter: RedisBusAdapter
  /** Is this peer another node of the cluster (trusted: share everything, no guard)? */
  isNode(peerId: PeerId): boolean
  /** Is this peer a client of another node whose ephemeral messages the bus relayed? */
  relayedAuthor(peerId: PeerId): boolean
  /** What /healthz reports. */
  status(): { connected: boolean; nodes: number }
  close(): Promise<void>
}

export function createCluster(options: ClusterOptions): Cluster {
  const { registry, log } = options
  let adapter: RedisBusAdapter | undefined
  const metrics = busMetrics(options.metrics, () => adapter?.connected ?? false)
  adapter = new RedisBusAdapter({ url: options.redisUrl, heartbeatMs: options.heartbeatMs, hooks: registryFacts(registry), metrics, log })
  locateOverBus(registry, adapter, options.sharedRegistry)
  const bus = adapter
  return {
    adapter: bus,
    isNode: peerId => bus.isNode(peerId),
    relayedAuthor: peerId => bus.relayedAuthor(peerId),
    status: () => ({ connected: bus.connected, nodes: bus.nodes.length }),
    close: () => bus.close(),
  }
}
