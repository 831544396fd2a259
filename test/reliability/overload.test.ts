/**
 * Overload and backpressure against a real server process:
 * - a client that stops reading is closed with 4408 while the server's memory stays bounded;
 * - one user flooding frames is closed with 4429, and their reconnects are refused with
 *   HTTP 429 until their bucket refills, while other users' delivery latency is measured
 *   against an unloaded run (the ratio is recorded);
 * - the largest legal document (a segment at the server's byte limit, of maximum-size
 *   messages) is loaded while a probe measures how long the event loop is blocked
 *   (recorded); an append past the limit is refused with 4413.
 * Timings are recorded in test/artifacts/reliability/, not asserted (2 shared cores).
 */
import { cbor, Repo, type DocumentId } from '@automerge/automerge-repo'
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import { appendEvent, type SegmentDoc } from '@parley/core'
import { next as Automerge } from '@automerge/automerge'
import type { Conversation, ParleyClient } from '@parley/client'
import { RawClient, stopStockAdapter } from '@parley/sync-server/testing'
import { request } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { ServerProcess } from '../support/server-process.ts'
import { timelineWhere } from '../support/timeline.ts'
import { allTexts, connectClient, metricValue, scrape } from './support/clients.ts'
import { rssMiB, sampleRss } from './support/proc.ts'
import { eventually, sleep, step } from './support/random.ts'
import { percentile, recordResult, round } from './support/results.ts'

const [, INITIAL_SYNC] = Automerge.generateSyncMessage(Automerge.init(), Automerge.initSyncState())

describe('overload and backpressure', () => {
  const cleanup: (() => Promise<unknown>)[] = []
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined)
  })

  async function server(args: string[] = []): Promise<ServerProcess> {
    const started = await ServerProcess.start(args)
    cleanup.push(() => started.stop())
    return started
  }

  async function client(at: ServerProcess, user: string): Promise<ParleyClient> {
    const connected = await connectClient(at, user)
    cleanup.push(() => connected.close())
    return connected
  }

  const endpoint = (at: ServerProcess, user: string) => ({ url: `${at.url}/sync`, token: () => at.token(user) })

  /** A raw connection that has joined and opened `documentId` (so the server relays to it). */
  async function subscriber(at: ServerProcess, user: string, peerId: string, documentId: string): Promise<{ raw: RawClient; server: string }> {
    const raw = await RawClient.open(endpoint(at, user), user)
    cleanup.push(async () => raw.terminate())
    const { senderId } = await raw.join(peerId)
    raw.send({ type: 'request', senderId: peerId, targetId: senderId, documentId, data: INITIAL_SYNC })
    await raw.next(message => message.documentId === documentId && message.type === 'sync')
    return { raw, server: String(senderId) }
  }

  function ephemeral(peerId: string, server: string, documentId: string, count: number, bytes: number): Uint8Array {
    return cbor.encode({ type: 'ephemeral', senderId: peerId, targetId: server, documentId, sessionId: `${peerId}-session`, count, data: cbor.encode({ type: 'typing', pad: 'x'.repeat(bytes) }) })
  }

  it('closes a client that stopped reading with 4408; server memory stays bounded', async () => {
    const at = await server(['--max-buffered-bytes', String(1024 * 1024)])
    const alice = await client(at, 'alice')
    const conversation = await alice.createConversation({ members: ['bob'] })
    await alice.sync()
    const slow = await subscriber(at, 'bob', 'bob-slow', conversation.id)
    ;(slow.raw.socket as unknown as { _socket: { pause(): void } })._socket.pause()
    const sender = await subscriber(at, 'alice', 'alice-flooder', conversation.id)
    const baseline = rssMiB(at.pid!)
    const sampler = sampleRss(at.pid!)
    let sent = 0
    // 32 KiB typing frames, paced under the rate limit, until the server gives up on Bob (bounded: 1,500 frames).
    while ((metricValue(await scrape(`http://127.0.0.1:${at.port}`), 'parley_connections_closed_total', '{code="4408"}') || 0) === 0 && sent < 1500) {
      for (let i = 0; i < 20; i++) sender.raw.sendBytes(ephemeral('alice-flooder', sender.server, conversation.id, ++sent, 32 * 1024))
      await sleep(110)
    }
    const { peakMiB } = sampler.stop()
    expect(metricValue(await scrape(`http://127.0.0.1:${at.port}`), 'parley_connections_closed_total', '{code="4408"}')).toBe(1)
    // The server is fine: Alice still writes and reads through it.
    await conversation.send('still here')
    await alice.sync()
    await recordResult('overload-slow-client', { maxBufferedBytes: 1024 * 1024, framesSent: sent, frameBytes: 32 * 1024, rssBaselineMiB: round(baseline), rssPeakMiB: round(peakMiB), rssGrowthMiB: round(peakMiB - baseline) })
  })

  it('rate limits a flooding user with 4429 while others keep getting their messages', async () => {
    const at = await server()
    const alice = await client(at, 'alice')
    const bob = await client(at, 'bob')
    const mallory = await client(at, 'mallory')
    const conversation = await alice.createConversation({ members: ['bob'] })
    const noisy = await mallory.createConversation({ members: ['victim'] })
    await Promise.all([alice.sync(), mallory.sync()])
    await bob.sync()
    const bobs = await bob.conversation(conversation.id)
    // Someone for Mallory's frames to be relayed to.
    await subscriber(at, 'victim', 'victim-peer', noisy.id)

    const measure = async (label: string, count: number): Promise<number[]> => {
      const latencies: number[] = []
      for (let i = 0; i < count; i++) {
        const text = `${label} ${i}`
        const started = performance.now()
        const arrived = timelineWhere(bobs, timeline => timeline.some(item => item.text === text))
        await conversation.send(text)
        await step(`bob to receive "${text}"`, arrived)
        latencies.push(performance.now() - started)
        await sleep(20)
      }
      return latencies
    }
    await measure('warm-up', 10)
    const unloaded = await measure('unloaded', 200)

    let flooding = true
    let rateLimited = 0
    let refusedUpgrades = 0
    let floodFrames = 0
    const flood = (async () => {
      for (let round = 0; flooding; round++) {
        // Reconnecting at once, again and again: refused (HTTP 429) until the user's bucket refills.
        const raw = await RawClient.open(endpoint(at, 'mallory'), 'mallory').catch(() => undefined)
        if (!raw) {
          refusedUpgrades++
          continue
        }
        const peerId = `mallory-flood-${round}`
        const { senderId } = await raw.join(peerId)
        // As fast as the socket takes them, in batches so the close can arrive.
        while (raw.socket.readyState === raw.socket.OPEN && flooding) {
          for (let i = 0; i < 200; i++) raw.sendBytes(ephemeral(peerId, String(senderId), noisy.id, ++floodFrames, 256))
          await new Promise(resolve => setImmediate(resolve))
        }
        const closed = await raw.closedWithin(5_000)
        if (closed?.code === 4429) rateLimited++
        raw.terminate()
      }
    })()
    await eventually('the first 4429', () => rateLimited > 0, 20_000)
    const loaded = await measure('flooded', 200)
    flooding = false
    await flood

    expect(rateLimited).toBeGreaterThan(0)
    // Nothing of Alice's was lost to the flood.
    expect((await allTexts(bobs)).filter(text => text.startsWith('flooded'))).toHaveLength(200)
    const figures = {
      unloadedMs: { p50: round(percentile(unloaded, 50)), p99: round(percentile(unloaded, 99)) },
      floodedMs: { p50: round(percentile(loaded, 50)), p99: round(percentile(loaded, 99)) },
      ratioP50: round(percentile(loaded, 50) / percentile(unloaded, 50), 2),
      ratioP99: round(percentile(loaded, 99) / percentile(unloaded, 99), 2),
      goalRatio: 2,
      floodFrames,
      floodConnectionsClosedWith4429: rateLimited,
      floodUpgradesRefused: refusedUpgrades,
    }
    await recordResult('overload-flood', figures)
  })

  it('measures the event loop while the largest legal document loads', async () => {
    const at = await server()
    const alice = await client(at, 'alice')
    const conversation: Conversation = await alice.createConversation({ members: ['bob'] })
    await alice.sync()
    const segmentId = conversation.documentIds()[1]!
    // A segment filled to the server's limit (DEFAULT_LIMITS.maxSegmentBytes, 2 MiB of
    // event JSON) with 16 KiB messages: the biggest document a conversation can have.
    // Written by a stock automerge-repo peer (which ignores SEGMENT_BYTES) in changes of 40 (120 events, 1.97 MB).
    const adapter = new WebSocketClientAdapter(`${at.url}/sync?token=${await at.token('alice')}`)
    const stock = new Repo({ network: [adapter] })
    // The server closes this peer with 4413 below: its reconnect must not outlive the test.
    cleanup.push(async () => stopStockAdapter(adapter))
    const segment = await stock.find<SegmentDoc>(segmentId as DocumentId)
    const text = 'x'.repeat(16 * 1024 - 32)
    const probe = await RawClient.open(endpoint(at, 'alice'), 'alice')
    cleanup.push(async () => probe.terminate())
    const { senderId: serverPeer } = await probe.join('alice-probe')
    let asked = 0
    const serverHeads = async (): Promise<string[]> => {
      const requestId = ++asked
      probe.send({ type: 'parley/heads-request', senderId: 'alice-probe', targetId: serverPeer, requestId, documentIds: [segmentId] })
      const reply = await probe.next(message => message.type === 'parley/heads' && message.requestId === requestId)
      return ((reply.heads as Record<string, string[] | null>)[segmentId] ?? []).slice().sort()
    }
    const appendForty = (part: number): void =>
      segment.change(doc => {
        for (let i = 0; i < 40; i++) appendEvent(doc, { id: `big-${part}-${i}`, type: 'message', author: 'alice', device: 'stock', at: Date.now(), text: `${part} ${i} ${text}` })
      })
    for (let part = 0; part < 3; part++) {
      appendForty(part)
      const heads = [...segment.heads()].sort()
      await eventually(`the server to hold part ${part}`, async () => (await serverHeads()).join() === heads.join(), 60_000, 100)
    }
    const full = await serverHeads()
    // Past the limit the server refuses the change (4413) and keeps the segment as it was.
    appendForty(3)
    await eventually('the server to refuse the change past the segment limit', async () => /a segment holds at most 2097152 bytes of events/.test(at.log), 30_000, 100)
    expect(await serverHeads()).toEqual(full)
    stopStockAdapter(adapter)
    // The SDK starts the next segment instead (core SEGMENT_BYTES).
    await conversation.send('one more, in the next segment')
    expect(conversation.documentIds().length).toBe(3)
    await alice.sync({ timeout: 60_000 })
    await alice.close()
    // Restarted, the server holds nothing in memory; Bob's fresh device makes it load the segment.
    await at.kill('SIGTERM')
    await at.restart()
    const port = at.port
    const healthProbe = (): Promise<number> =>
      new Promise((resolve, reject) => {
        const started = performance.now()
        request({ host: '127.0.0.1', port, path: '/healthz' }, response => {
          response.resume()
          response.on('end', () => resolve(performance.now() - started))
        })
          .on('error', reject)
          .end()
      })
    const idle: number[] = []
    for (let i = 0; i < 50; i++) idle.push(await healthProbe())
    let probing = true
    const during: number[] = []
    const probing$ = (async () => {
      while (probing) during.push(await healthProbe())
    })()
    // Each scrape of nodejs_eventloop_lag_max_seconds covers the time since the previous one.
    const httpUrl = `http://127.0.0.1:${port}`
    await scrape(httpUrl)
    const bob = await client(at, 'bob')
    const loadStarted = performance.now()
    await bob.sync({ timeout: 120_000 })
    const bobs = await bob.conversation(conversation.id)
    await timelineWhere(bobs, timeline => timeline.length >= 50)
    const loadMs = performance.now() - loadStarted
    probing = false
    await probing$
    const longestBlockMs = metricValue(await scrape(httpUrl), 'nodejs_eventloop_lag_max_seconds') * 1000
    expect(bobs.timeline().length).toBeGreaterThan(0)
    await recordResult('overload-large-document', {
      segmentEvents: 120,
      messageBytes: 16 * 1024,
      clientSyncMs: Math.round(loadMs),
      healthProbeIdleMs: { p50: round(percentile(idle, 50)), max: round(Math.max(...idle)) },
      healthProbeDuringLoadMs: { p50: round(percentile(during, 50)), p99: round(percentile(during, 99)), max: round(Math.max(...during)) },
      longestStallMs: round(Math.max(...during) - percentile(idle, 50)),
      longestEventLoopBlockMs: round(longestBlockMs),
      goalMs: 100,
    })
  })
})
