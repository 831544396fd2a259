/**
 * Reconnect storm: every client loses its connection at once (the server is killed and
 * restarted) and comes back with the client library's backoff. The server stays
 * responsive (health and round-trip latency of the first clients back are measured all
 * through), every client resyncs its conversation, and the connection rate over time is
 * drawn as a chart. `npm test` runs 1,000 clients; `npm run reliability:full`, 5,000.
 */
import { forkWorker, nextMessage } from '@parley/benchmarks/processes'
import { RawClient } from '@parley/sync-server/testing'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ServerProcess } from '../support/server-process.ts'
import { eventually, sleep } from './support/random.ts'
import { percentile, recordResult, round, writeArtifact } from './support/results.ts'
import { SCALE } from './support/scale.ts'
import { columnChart } from './support/column-chart.ts'

const WORKER = fileURLToPath(new URL('./support/storm-worker.ts', import.meta.url))
const GROUP = 100
const BUCKET_MS = 500
const PROBES = 5

describe(`reconnect storm of ${SCALE.stormClients} clients`, () => {
  let server: ServerProcess
  const workers: ChildProcess[] = []
  const progress = new Map<ChildProcess, { synced: number; connected: number }>()
  beforeAll(async () => {
    server = await ServerProcess.start(['--max-connections-per-ip', String(SCALE.stormClients + 200)])
  })
  afterAll(async () => {
    for (const worker of workers) worker.kill('SIGKILL')
    await server?.stop()
  })

  const total = (key: 'synced' | 'connected'): number => [...progress.values()].reduce((sum, p) => sum + p[key], 0)
  const httpUrl = (): string => `http://127.0.0.1:${server.port}`

  it('stays responsive and resyncs every client', async () => {
    const n = SCALE.stormClients
    const ownerToken = await server.token('storm-owner')
    const clients: [string, string][] = []
    for (let group = 0; group * GROUP < n; group++) {
      const members = Array.from({ length: Math.min(GROUP, n - group * GROUP) }, (_, i) => `user-${group * GROUP + i}`)
      const response = await fetch(`${httpUrl()}/v1/conversations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ownerToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'group', members: [...members, ...Array.from({ length: PROBES }, (_, i) => `probe-${i}`)] }),
      })
      const { id } = (await response.json()) as { id: string }
      for (const member of members) clients.push([member, id])
    }
    const probeConversation = clients[0]![1]
    const origin = performance.timeOrigin
    const now = (): number => performance.now()
    for (const half of [clients.filter((_, i) => i % 2 === 0), clients.filter((_, i) => i % 2 === 1)]) {
      const worker = forkWorker(WORKER, [JSON.stringify({ url: `${server.url}/sync`, secret: server.secret, clients: half, origin, rampMs: n * 4 })])
      workers.push(worker)
      progress.set(worker, { synced: 0, connected: 0 })
      worker.on('message', (message: { type: string; synced: number; connected: number }) => {
        if (message.type === 'progress') progress.set(worker, message)
      })
    }
    const rampStarted = now()
    await eventually(`every client to sync before the storm (${n})`, () => total('synced') === n, SCALE.timeoutMs / 3, 100).catch(error => {
      throw new Error(`${(error as Error).message}: ${total('synced')} synced, ${total('connected')} connected`)
    })
    const initialSyncMs = now() - rampStarted
    for (const worker of workers) worker.send({ type: 'reset' })

    // Probes: the first clients back measure round trips while the rest reconnect.
    const roundTrips: number[] = []
    let measuring = true
    const probe = async (index: number): Promise<void> => {
      let raw: RawClient | undefined
      while (measuring && !raw) {
        raw = await RawClient.open({ url: `${server.url}/sync`, token: () => server.token(`probe-${index}`) }, `probe-${index}`, { timeoutMs: 2_000 }).catch(() => undefined)
        if (!raw) await sleep(20)
      }
      if (!raw) return
      const peerId = `probe-${index}-peer`
      const { senderId } = await raw.join(peerId, 10_000)
      for (let requestId = 1; measuring; requestId++) {
        const started = performance.now()
        raw.send({ type: 'parley/heads-request', senderId: peerId, targetId: senderId, requestId, documentIds: [probeConversation] })
        const answered = await Promise.race([raw.next(message => message.type === 'parley/heads' && message.requestId === requestId).then(() => true), raw.closed.then(() => false)])
        if (!answered) return
        roundTrips.push(performance.now() - started)
        await sleep(50)
      }
      raw.socket.close()
    }
    const health: number[] = []
    const healthPoller = (async () => {
      while (measuring) {
        const started = performance.now()
        const ok = await fetch(`${httpUrl()}/healthz`, { signal: AbortSignal.timeout(5_000) }).then(response => response.ok, () => false)
        if (ok) health.push(performance.now() - started)
        await sleep(100)
      }
    })()

    const killedAt = now()
    await server.kill('SIGKILL')
    await server.restart()
    const upAt = now()
    const probes = Array.from({ length: PROBES }, (_, i) => probe(i))
    await eventually('every client to resync after the restart', () => total('synced') === n, SCALE.timeoutMs / 2, 50).catch(error => {
      throw new Error(`${(error as Error).message}: ${total('synced')} synced, ${total('connected')} connected`)
    })
    const doneAt = now()
    measuring = false
    await Promise.all([...probes, healthPoller])

    const collected = await Promise.all(
      workers.map(worker => {
        const reply = nextMessage<{ joins: number[]; syncs: number[]; failures: number }>(worker, 'collected')
        worker.send({ type: 'collect' })
        return reply
      }),
    )
    const joins = collected.flatMap(c => c.joins).map(at => at - killedAt)
    const buckets = new Map<number, number>()
    for (const at of joins) buckets.set(Math.floor(at / BUCKET_MS), (buckets.get(Math.floor(at / BUCKET_MS)) ?? 0) + 1)
    const last = Math.max(...buckets.keys())
    const values = Array.from({ length: last + 1 }, (_, b) => buckets.get(b) ?? 0)
    const chart = await writeArtifact(
      `storm-${n}.svg`,
      columnChart({
        title: `Reconnect storm: ${n} clients reconnecting with the client library's backoff (joins per ${BUCKET_MS} ms)`,
        bucketSeconds: BUCKET_MS / 1000,
        values,
        unit: `joins per ${BUCKET_MS} ms`,
        marks: [
          { at: (upAt - killedAt) / 1000, label: 'server listening' },
          { at: (doneAt - killedAt) / 1000, label: 'all resynced' },
        ],
      }),
    )
    const peakPerSecond = (Math.max(...buckets.values()) * 1000) / BUCKET_MS
    await recordResult(`storm-${n}`, {
      clients: n,
      initialConnectAndSyncMs: Math.round(initialSyncMs),
      serverDownMs: Math.round(upAt - killedAt),
      recoveryAfterUpMs: Math.round(doneAt - upAt),
      recoveryAfterKillMs: Math.round(doneAt - killedAt),
      failedAttempts: collected.reduce((sum, c) => sum + c.failures, 0),
      peakJoinsPerSecond: peakPerSecond,
      healthDuringStormMs: { answered: health.length, p50: round(percentile(health, 50)), p99: round(percentile(health, 99)), max: round(Math.max(...health)) },
      connectedClientRoundTripMs: { samples: roundTrips.length, p50: round(percentile(roundTrips, 50)), p99: round(percentile(roundTrips, 99)), max: round(Math.max(...roundTrips)) },
      joinsPerBucket: values,
      chart,
    })
    expect(total('synced')).toBe(n)
    expect(health.length).toBeGreaterThan(0)
    expect(roundTrips.length).toBeGreaterThan(0)
   }, SCALE.timeoutMs)
})
