/**
 * Metrics of the segment bus (change-bus.ts), on the server's registry. Counted for all
 * conversation channels together: a label per conversation would grow without bound.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { RefillReason } from '../relay/bus.ts'

export interface ChangeBusMetrics {
  subscriptions(count: number): void
  published(bytes: number): void
  received(bytes: number, lagSeconds: number): void
  dropped(): void
  refilled(reason: RefillReason): void
  reconnecting(): void
  connected(up: boolean): void
}

const LAG_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]

export function changeBusMetrics(register: Registry, segmentsLoaded: () => number): ChangeBusMetrics {
  const registers = [register]
  const subscriptions = new Gauge({ name: 'parley_bus_subscriptions', help: 'Conversation channels this node is subscribed to (conversations whose segments its clients sync).', registers })
  const frames = new Counter({ name: 'parley_bus_change_frames_total', help: 'Segment change frames on conversation channels, by direction (published; received: from other nodes).', labelNames: ['direction'], registers })
  const bytes = new Counter({ name: 'parley_bus_change_bytes_total', help: 'Bytes of segment change frames on conversation channels, by direction.', labelNames: ['direction'], registers })
  const dropped = new Counter({ name: 'parley_bus_change_dropped_total', help: 'Segment change frames not published because the link to Redis was down (the others reload from storage).', registers })
  const refills = new Counter({ name: 'parley_relay_refills_total', help: 'Segments reloaded from the shared storage, by reason (gap: a change with missing deps; listening: a new subscription or the link back; idle: an HTTP use of a segment no client here syncs; foreign: a client re-sent another user’s change the loaded log lacked).', labelNames: ['reason'], registers })
  const reconnects = new Counter({ name: 'parley_bus_change_reconnects_total', help: 'Attempts of the segment bus to reconnect to Redis after its link dropped.', registers })
  const connected = new Gauge({ name: 'parley_bus_change_connected', help: '1 while the segment bus has both its Redis connections up and subscribed, else 0.', registers })
  const lag = new Histogram({ name: 'parley_bus_change_lag_seconds', help: 'From a segment change frame being published by one node to its arrival at another, in seconds.', buckets: LAG_BUCKETS, registers })
  new Gauge({
    name: 'parley_relay_segments_loaded',
    help: 'Segments the relay core holds in memory on this node.',
    registers,
    collect() {
      this.set(segmentsLoaded())
    },
  })
  for (const direction of ['published', 'received']) {
    frames.labels(direction).inc(0)
    bytes.labels(direction).inc(0)
  }
  for (const reason of ['gap', 'listening', 'idle', 'foreign'] satisfies RefillReason[]) refills.labels(reason).inc(0)
  subscriptions.set(0)
  return {
    subscriptions: count => subscriptions.set(count),
    published(size) {
      frames.labels('published').inc()
      bytes.labels('published').inc(size)
    },
    received(size, lagSeconds) {
      frames.labels('received').inc()
      bytes.labels('received').inc(size)
      lag.observe(lagSeconds)
    },
    dropped: () => dropped.inc(),
    refilled: reason => refills.labels(reason).inc(),
    reconnecting: () => reconnects.inc(),
    connected: up => connected.set(up ? 1 : 0),
  }
}
