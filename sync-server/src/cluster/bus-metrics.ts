/**
 * The cluster bus's Prometheus metrics, registered on the server's own registry beside
 * its other metrics (metrics/metrics.ts).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { BusMetricsSink } from './bus-adapter.ts'

/** From a tenth of a millisecond (Redis on the same host) to a second (something is wrong). */
const LAG_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]

export function busMetrics(register: Registry, connected: () => boolean): BusMetricsSink {
  const registers = [register]
  const help = 'by direction (published, received: every frame the node got, including its own and other nodes\' on shared channels) and kind (hello: heartbeats; msg, fan: repo messages; bye, query, answer)'
  const messages = new Counter({ name: 'parley_bus_messages_total', help: `Cluster bus frames, ${help}.`, labelNames: ['direction', 'kind'], registers })
  const bytes = new Counter({ name: 'parley_bus_bytes_total', help: `Cluster bus frame bytes, ${help}.`, labelNames: ['direction', 'kind'], registers })
  const dropped = new Counter({ name: 'parley_bus_dropped_total', help: 'Frames not published because the link to Redis was down (the sync protocol re-sends what matters).', registers })
  const reconnects = new Counter({ name: 'parley_bus_reconnects_total', help: 'Attempts to reconnect to Redis after the link dropped.', registers })
  const peers = new Gauge({ name: 'parley_bus_peers', help: 'Other nodes this node is in a sync session with.', registers })
  new Gauge({
    name: 'parley_bus_connected',
    help: '1 while both Redis connections are up and subscribed, else 0.',
    registers,
    collect() {
      this.set(connected() ? 1 : 0)
    },
  })
  const lag = new Histogram({ name: 'parley_bus_lag_seconds', help: 'From a frame being published by one node to its arrival at another, in seconds (clocks of different hosts add their skew).', buckets: LAG_BUCKETS, registers })
  for (const direction of ['published', 'received']) {
    for (const kind of ['hello', 'msg', 'fan']) {
      messages.labels(direction, kind).inc(0)
      bytes.labels(direction, kind).inc(0)
    }
  }
  return {
    published(size, kind) {
      messages.labels('published', kind).inc()
      bytes.labels('published', kind).inc(size)
    },
    received(size, kind) {
      messages.labels('received', kind).inc()
      bytes.labels('received', kind).inc(size)
    },
    dropped: () => dropped.inc(),
    lag: seconds => lag.observe(seconds),
    reconnecting: () => reconnects.inc(),
    peers: count => peers.set(count),
  }
}
