/**
 * Prometheus metrics: `ServerMetrics` fed by hand renders every series; the network
 * adapter reports connections, frames, closes and relay latency over real sockets;
 * the storage wrapper times each operation; the Grafana dashboard charts every metric;
 * GET /metrics on a real server (skipped until server.ts wires it).
 */
import { cbor, Repo, type PeerId } from '@automerge/automerge-repo'
import { runStorageAdapterTests } from '@automerge/automerge-repo/helpers/tests/storage-adapter-tests.js'
import { MemoryStorageAdapter } from '@parley/core'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { pino } from 'pino'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { WebSocketServer } from 'ws'
import { ServerMetrics, type AdapterMetrics } from '../src/metrics/metrics.ts'
import { instrumentStorage } from '../src/metrics/storage.ts'
import { ParleyServerAdapter } from '../src/network/server-adapter.ts'
import { startTestServer } from '../src/testing.ts'
import { appendMessage, createConversationDocs, RawClient, stockRepo, until, type StockClient } from './helpers.ts'

// The suite registers a file-wide beforeEach that only builds a fresh adapter: harmless to the rest.
runStorageAdapterTests(async () => ({ adapter: instrumentStorage(new MemoryStorageAdapter(), new ServerMetrics({ documentsLoaded: () => 0 })) }), 'instrumentStorage')

/** The value of one series (`name{labels}` exactly as rendered) in the text exposition. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find(candidate => candidate.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

const cleanup: (() => unknown)[] = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

function serverMetrics(documentsLoaded: () => number = () => 0): ServerMetrics {
  const metrics = new ServerMetrics({ documentsLoaded })
  cleanup.push(() => metrics.close())
  return metrics
}

describe('ServerMetrics', () => {
  it('renders every parley_ metric with the values and labels it was fed', async () => {
    let loaded = 5
    const metrics = serverMetrics(() => loaded)
    metrics.connectionOpened('alice')
    metrics.connectionOpened('alice')
    metrics.connectionOpened('bob')
    metrics.connectionClosed('alice', 4401)
    metrics.messageIn(100)
    metrics.messageIn(50)
    metrics.messageOut(10)
    metrics.eventsStored(3)
    metrics.eventsStored()
    metrics.deliveryLatency(0.002)
    metrics.deliveryLatency(0.3)
    metrics.longPollStarted()
    metrics.longPollStarted()
    metrics.longPollEnded()
    metrics.webhookQueueDepth(7)
    metrics.webhookRetried()
    metrics.webhookRetried()
    metrics.webhookDeadLettered()

    let text = await metrics.text()
    expect(sample(text, 'parley_connections')).toBe(2)
    expect(sample(text, 'parley_authenticated_users')).toBe(2)
    expect(sample(text, 'parley_documents_loaded')).toBe(5)
    expect(sample(text, 'parley_long_polls_waiting')).toBe(1)
    expect(sample(text, 'parley_webhook_queue_depth')).toBe(7)
    expect(sample(text, 'parley_event_loop_lag_seconds')).toBeGreaterThanOrEqual(0)
    expect(sample(text, 'parley_sync_messages_total{direction="in"}')).toBe(2)
    expect(sample(text, 'parley_sync_messages_total{direction="out"}')).toBe(1)
    expect(sample(text, 'parley_sync_bytes_total{direction="in"}')).toBe(150)
    expect(sample(text, 'parley_sync_bytes_total{direction="out"}')).toBe(10)
    expect(sample(text, 'parley_events_stored_total')).toBe(4)
    expect(sample(text, 'parley_connections_closed_total{code="4401"}')).toBe(1)
    expect(sample(text, 'parley_webhook_retries_total')).toBe(2)
    expect(sample(text, 'parley_webhook_dead_letters_total')).toBe(1)
    expect(sample(text, 'parley_delivery_latency_seconds_bucket{le="0.0005"}')).toBe(0)
    expect(sample(text, 'parley_delivery_latency_seconds_bucket{le="0.0025"}')).toBe(1)
    expect(sample(text, 'parley_delivery_latency_seconds_bucket{le="0.5"}')).toBe(2)
    expect(sample(text, 'parley_delivery_latency_seconds_bucket{le="2"}')).toBe(2)
    expect(sample(text, 'parley_delivery_latency_seconds_count')).toBe(2)
    expect(sample(text, 'parley_delivery_latency_seconds_sum')).toBeCloseTo(0.302)
    // Default process metrics come along, in the same registry.
    expect(sample(text, 'nodejs_heap_size_total_bytes')).toBeGreaterThan(0)
    expect(metrics.contentType).toMatch(/^text\/plain/)

    // The last of alice's connections: she no longer counts as a user. Gauges read at scrape follow.
    metrics.connectionClosed('alice', 1000)
    loaded = 6
    text = await metrics.text()
    expect(sample(text, 'parley_connections')).toBe(1)
    expect(sample(text, 'parley_authenticated_users')).toBe(1)
    expect(sample(text, 'parley_connections_closed_total{code="1000"}')).toBe(1)
    expect(sample(text, 'parley_documents_loaded')).toBe(6)
  })

  it('asks the webhook queue depth at scrape when given a callback', async () => {
    let depth = 3
    const metrics = new ServerMetrics({ documentsLoaded: () => 0, webhookQueueDepth: () => depth })
    cleanup.push(() => metrics.close())
    expect(sample(await metrics.text(), 'parley_webhook_queue_depth')).toBe(3)
    depth = 0
    expect(sample(await metrics.text(), 'parley_webhook_queue_depth')).toBe(0)
  })

  it('reads 0 for both sync directions before any frame, so rate() has a start', async () => {
    const text = await serverMetrics().text()
    expect(sample(text, 'parley_sync_messages_total{direction="in"}')).toBe(0)
    expect(sample(text, 'parley_sync_bytes_total{direction="out"}')).toBe(0)
  })

  it('reports a blocked event loop as lag', async () => {
    const metrics = serverMetrics()
    await metrics.text() // starts a fresh window
    // Node drops the first interval after a reset: let the monitor tick once before blocking.
    await new Promise(resolve => setTimeout(resolve, 25))
    const deadline = Date.now() + 150
    while (Date.now() < deadline) {
      // Block the loop: the monitor's timer fires late.
    }
    await new Promise(resolve => setTimeout(resolve, 30))
    expect(sample(await metrics.text(), 'parley_event_loop_lag_seconds')).toBeGreaterThan(0.05)
  })

  it('keeps servers in one process apart: each has its own registry', async () => {
    const one = serverMetrics()
    const two = serverMetrics()
    one.eventsStored(2)
    expect(sample(await one.text(), 'parley_events_stored_total')).toBe(2)
    expect(sample(await two.text(), 'parley_events_stored_total')).toBe(0)
  })

  it('times storage operations, failed ones included, and passes their results through', async () => {
    const metrics = serverMetrics()
    const storage = instrumentStorage(new MemoryStorageAdapter(), metrics)
    await storage.save(['doc', 'snapshot', 'a'], new Uint8Array([1, 2]))
    expect(await storage.load(['doc', 'snapshot', 'a'])).toEqual(new Uint8Array([1, 2]))
    expect(await storage.loadRange(['doc'])).toHaveLength(1)
    await storage.remove(['doc', 'snapshot', 'a'])
    await storage.removeRange(['doc'])
    await expect(metrics.timeStorage('load', Promise.reject(new Error('disk gone')))).rejects.toThrow('disk gone')

    const text = await metrics.text()
    expect(sample(text, 'parley_leveldb_operation_seconds_count{op="save"}')).toBe(1)
    expect(sample(text, 'parley_leveldb_operation_seconds_count{op="load"}')).toBe(2)
    expect(sample(text, 'parley_leveldb_operation_seconds_count{op="loadRange"}')).toBe(1)
    expect(sample(text, 'parley_leveldb_operation_seconds_count{op="remove"}')).toBe(1)
    expect(sample(text, 'parley_leveldb_operation_seconds_count{op="removeRange"}')).toBe(1)
  })
})

describe('the network adapter with metrics', () => {
  const log = pino({ level: 'silent' })

  /** The adapter in a minimal repo behind a plain WebSocketServer; the "token" is the user name. */
  async function adapterServer(metrics: AdapterMetrics): Promise<{ url: string; token: (user: string) => Promise<string>; repo: Repo }> {
    const adapter = new ParleyServerAdapter({
      maxFrameBytes: 1024 * 1024,
      keepAliveMs: 60_000,
      rate: { perSecond: 1000, burst: 1000 },
      maxBufferedBytes: 16 * 1024 * 1024,
      inspect: async message => ({ ok: true, message }),
      mayReceive: () => true,
      headsOf: async () => ({}),
      metrics,
    })
    const repo = new Repo({ network: [adapter], peerId: 'server' as PeerId, shareConfig: { announce: async () => false, access: async () => true } })
    await adapter.whenConnected()
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await once(wss, 'listening')
    wss.on('connection', (socket, request) => {
      const user = new URL(request.url ?? '/', 'http://localhost').searchParams.get('token') ?? ''
      adapter.accept(socket, { user }, log)
    })
    cleanup.push(async () => {
      adapter.disconnect()
      await new Promise(resolve => wss.close(resolve))
      await repo.shutdown()
    })
    return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, token: async user => user, repo }
  }

  async function stock(at: { url: string; token: (user: string) => Promise<string> }, user: string): Promise<StockClient> {
    const client = await stockRepo(at, user)
    cleanup.push(() => client.close())
    return client
  }

  it('counts connections, users, frames and bytes each way, and closes by code', async () => {
    const metrics = serverMetrics()
    const at = await adapterServer(metrics)
    const carol = await RawClient.open(at, 'carol')
    const replies: number[] = []
    carol.socket.on('message', data => replies.push((data as Buffer).byteLength))
    const join = { type: 'join', senderId: 'carol-peer', peerMetadata: {}, supportedProtocolVersions: ['1'] }
    await carol.join('carol-peer')
    const other = await RawClient.open(at, 'carol')

    let text = await metrics.text()
    expect(sample(text, 'parley_connections')).toBe(2)
    expect(sample(text, 'parley_authenticated_users')).toBe(1)
    expect(sample(text, 'parley_sync_messages_total{direction="in"}')).toBe(1)
    expect(sample(text, 'parley_sync_bytes_total{direction="in"}')).toBe(cbor.encode(join).byteLength)
    expect(sample(text, 'parley_sync_messages_total{direction="out"}')).toBe(1)
    expect(sample(text, 'parley_sync_bytes_total{direction="out"}')).toBe(replies[0])

    // The server closes one (a CBOR null is malformed: 4400); the client closes the other (4000).
    carol.sendBytes(new Uint8Array([0xf6]))
    expect(await carol.closed).toMatchObject({ code: 4400 })
    other.socket.close(4000, 'bye')
    await vi.waitFor(async () => expect(sample(await metrics.text(), 'parley_connections')).toBe(0))
    text = await metrics.text()
    expect(sample(text, 'parley_authenticated_users')).toBe(0)
    expect(sample(text, 'parley_connections_closed_total{code="4400"}')).toBe(1)
    // 4000 is the client's own choice, not a server code: counted as "other".
    expect(sample(text, 'parley_connections_closed_total{code="other"}')).toBe(1)
    expect(sample(text, 'parley_sync_messages_total{direction="in"}')).toBe(2)
  })

  it('labels closes from a closed set: client-chosen codes (3000–4999) add no series (issue 13, item 13)', async () => {
    const metrics = serverMetrics()
    const at = await adapterServer(metrics)
    const codes = [3000, 3001, 3999, 4000, 4001, 4402, 4998, 4999]
    for (const code of codes) {
      const client = await RawClient.open(at, 'mallory')
      client.socket.close(code, 'chosen')
      await client.closed
    }
    await vi.waitFor(async () => expect(sample(await metrics.text(), 'parley_connections')).toBe(0))
    const text = await metrics.text()
    const series = text.split('\n').filter(line => line.startsWith('parley_connections_closed_total{'))
    expect(series).toEqual(['parley_connections_closed_total{code="other"} 8'])
    // The server's own codes keep their label.
    metrics.connectionOpened('x')
    metrics.connectionClosed('x', 4429)
    expect(sample(await metrics.text(), 'parley_connections_closed_total{code="4429"}')).toBe(1)
  })

  it('times a change from one peer until it is relayed to another', async () => {
    const metrics = serverMetrics()
    const at = await adapterServer(metrics)
    const alice = await stock(at, 'alice')
    const bob = await stock(at, 'bob')
    const handle = alice.repo.create<{ n: number }>({ n: 1 })
    await vi.waitFor(() => expect(at.repo.handles[handle.documentId]?.isReady()).toBe(true))
    // The server answered alice's change (two `peer` replies, then sync): answering the sender is no relay.
    await vi.waitFor(async () => expect(sample(await metrics.text(), 'parley_sync_messages_total{direction="out"}')).toBeGreaterThan(2))
    expect(sample(await metrics.text(), 'parley_delivery_latency_seconds_count')).toBe(0)
    const bobs = await bob.repo.find<{ n: number }>(handle.url)
    const before = sample(await metrics.text(), 'parley_delivery_latency_seconds_count') ?? 0

    handle.change(doc => (doc.n = 2))
    await until(bobs, doc => doc.n === 2)

    const text = await metrics.text()
    expect(sample(text, 'parley_delivery_latency_seconds_count')).toBe(before + 1)
    expect(sample(text, 'parley_delivery_latency_seconds_sum')).toBeGreaterThan(0)
    expect(sample(text, 'parley_sync_messages_total{direction="in"}')).toBeGreaterThan(2)
    expect(sample(text, 'parley_sync_bytes_total{direction="out"}')).toBeGreaterThan(0)
    expect(sample(text, 'parley_connections')).toBe(2)
    expect(sample(text, 'parley_authenticated_users')).toBe(2)
  })
})

describe('GET /metrics', () => {
  // Enable once server.ts wires ServerMetrics (the adapter option, instrumentStorage, the route).
  it('serves the metrics of a real server that counts its sockets, storage and events', async () => {
    const at = await startTestServer()
    cleanup.push(() => at.close())
    const alice = await stockRepo(at, 'alice')
    cleanup.push(() => alice.close())
    const { segment } = createConversationDocs(alice.repo, 'alice', ['bob'])
    appendMessage(segment, 'alice', 'hello')
    const scrape = async (): Promise<string> => (await fetch(`${at.httpUrl}/metrics`)).text()
    await vi.waitFor(async () => expect(sample(await scrape(), 'parley_events_stored_total')).toBeGreaterThan(0))
    const response = await fetch(`${at.httpUrl}/metrics`)
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/)
    const text = await response.text()
    expect(sample(text, 'parley_connections')).toBe(1)
    expect(sample(text, 'parley_authenticated_users')).toBe(1)
    expect(sample(text, 'parley_documents_loaded')).toBeGreaterThanOrEqual(2)
    expect(sample(text, 'parley_sync_messages_total{direction="in"}')).toBeGreaterThan(0)
    expect(sample(text, 'parley_leveldb_operation_seconds_count{op="save"}')).toBeGreaterThan(0)
  })
})

describe('the Grafana dashboard', () => {
  interface Panel {
    title?: string
    datasource?: { uid?: string }
    targets?: { expr?: string }[]
    panels?: Panel[]
  }

  it('charts every parley_ metric the server registers', async () => {
    const dashboard = JSON.parse(await readFile(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as {
      schemaVersion: number
      __inputs: { name: string; pluginId: string }[]
      panels: Panel[]
    }
    expect(dashboard.schemaVersion).toBe(39)
    expect(dashboard.__inputs).toContainEqual(expect.objectContaining({ name: 'DS_PROMETHEUS', pluginId: 'prometheus' }))
    const panels = dashboard.panels.flatMap(panel => [panel, ...(panel.panels ?? [])])
    const expressions = panels.flatMap(panel => (panel.targets ?? []).map(target => target.expr ?? ''))
    for (const panel of panels.filter(panel => panel.targets)) expect(panel.datasource?.uid, panel.title).toBe('${DS_PROMETHEUS}')

    const names = serverMetrics()
      .register.getMetricsAsArray()
      .map(metric => metric.name)
      .filter(name => name.startsWith('parley_'))
    expect(names).toHaveLength(20)
    // A whole name (histograms by their series suffixes): parley_connections must not match parley_connections_closed_total.
    const uncharted = names.filter(name => !expressions.some(expr => new RegExp(`\\b${name}(_bucket|_sum|_count)?\\b`).test(expr)))
    expect(uncharted).toEqual([])
  })
})
