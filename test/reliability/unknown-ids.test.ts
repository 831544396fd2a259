/**
 * A flood of client-chosen document IDs costs the server a bounded amount (issue 13, item
 * 5). Members send `request` messages for random document IDs (some saying they have
 * nothing, some claiming heads they never deliver) and heads requests naming thousands of
 * random IDs. automerge-repo creates a handle for every requested ID (docs/reliability.md);
 * the server must drop the ones nobody had, bound what it caches of absent documents, and
 * never leave a find timeout as an unhandled rejection. Heap after the flood (after GC) is
 * compared with a warm baseline: the same flood once first, cleared again.
 *
 *   PARLEY_UNKNOWN_REQUESTS=7000 PARLEY_UNKNOWN_HEADS_IDS=1000000 npx vitest run --project reliability test/reliability/unknown-ids.test.ts
 */
import { next as Automerge } from '@automerge/automerge'
import { generateAutomergeUrl, parseAutomergeUrl } from '@automerge/automerge-repo'
import { RawClient } from '@parley/sync-server/testing'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ServerHost } from './support/host.ts'
import { eventually } from './support/random.ts'
import { recordResult, round } from './support/results.ts'
import { SCALE } from './support/scale.ts'

const MiB = 1024 * 1024
const count = (name: string, quick: number, full: number): number => Number(process.env[name] ?? (SCALE.full ? full : quick))
/** `request` messages for random IDs per round, over all flooders. */
const REQUESTS = count('PARLEY_UNKNOWN_REQUESTS', 2000, 7000)
/** Random IDs named by heads requests per round (10,000 per request, the most one may name). */
const HEADS_IDS = count('PARLEY_UNKNOWN_HEADS_IDS', 60_000, 1_000_000)
const FLOODERS = ['mallory', 'mallet', 'eve', 'trudy']

const randomDocumentId = (): string => parseAutomergeUrl(generateAutomergeUrl()).documentId
/** "I have nothing": the server asks its peers, finds none, and answers doc-unavailable. */
const [, NOTHING] = Automerge.generateSyncMessage(Automerge.init(), Automerge.initSyncState())
/** "I have these heads": the server waits for changes that never come. */
const claimHeads = (): Uint8Array => Automerge.encodeSyncMessage({ heads: [randomBytes(32).toString('hex')], need: [], have: [], changes: [] } as never)

/** One flooder: `requests` request messages and `headsIds` IDs in heads requests, in batches each ended by a heads request it waits for. */
async function flood(host: ServerHost, user: string, round: number, requests: number, headsIds: number): Promise<void> {
  const client = await RawClient.open({ url: host.url, token: () => host.token(user) }, user)
  try {
    const peerId = `${user}-flood-${round}`
    const { senderId: server } = await client.join(peerId)
    let barrier = 0
    const wait = async (): Promise<void> => {
      const requestId = ++barrier
      client.send({ type: 'parley/heads-request', senderId: peerId, requestId, documentIds: [] })
      const closed = client.closed.then(({ code, reason }) => Promise.reject(new Error(`${user} was closed with ${code} (${reason})`)))
      await Promise.race([client.next(message => message.type === 'parley/heads' && message.requestId === requestId), closed])
      client.received.length = 0
    }
    for (let sent = 0; sent < requests; ) {
      for (let i = 0; i < 100 && sent < requests; i++, sent++) {
        client.send({ type: 'request', senderId: peerId, targetId: server, documentId: randomDocumentId(), data: sent % 2 ? claimHeads() : NOTHING })
      }
      await wait()
    }
    for (let named = 0; named < headsIds; ) {
      const documentIds = Array.from({ length: Math.min(10_000, headsIds - named) }, randomDocumentId)
      named += documentIds.length
      client.send({ type: 'parley/heads-request', senderId: peerId, requestId: -named, documentIds })
      await wait()
    }
  } finally {
    client.socket.close()
    await client.closedWithin(5_000)
  }
}

/** Waits (bounded) for the repo to hold no more handles than at `start`; the test asserts the count after. */
async function handlesBackTo(host: ServerHost, handles: number | undefined): Promise<void> {
  const waitMs = Number(process.env.PARLEY_UNKNOWN_WAIT_MS ?? 60_000)
  await eventually('the flood’s handles to go', async () => (await host.measure()).maps['repo.handles'] === handles, waitMs, 500).catch(() => undefined)
}

async function floodRound(host: ServerHost, round: number): Promise<void> {
  await Promise.all(FLOODERS.map(user => flood(host, user, round, Math.ceil(REQUESTS / FLOODERS.length), Math.ceil(HEADS_IDS / FLOODERS.length))))
}

describe('unknown document IDs', () => {
  let host: ServerHost
  beforeAll(async () => {
    // The rate limit is not what is tested here: the flood is what fits in any rate, sent sooner.
    host = await ServerHost.start({ messagesPerSecond: 100_000, messageBurst: 100_000 })
  })
  afterAll(() => host?.close())

  it(`drops what ${REQUESTS} requests and ${HEADS_IDS} heads-requested IDs for unknown documents left behind; no unhandled rejection`, async () => {
    const start = await host.measure()
    // Warm-up round: compiled code, pools and bounded caches filled once.
    await floodRound(host, 0)
    await handlesBackTo(host, start.maps['repo.handles'])
    const baseline = await host.measure()
    const started = performance.now()
    await floodRound(host, 1)
    const seconds = (performance.now() - started) / 1000
    const flooded = await host.measure()
    await handlesBackTo(host, start.maps['repo.handles'])
    const after = await host.measure()
    await recordResult('unknown-ids', {
      requests: REQUESTS,
      headsIds: HEADS_IDS,
      floodSeconds: round(seconds),
      heapMiB: { start: round(start.heapUsed / MiB), baseline: round(baseline.heapUsed / MiB), flooded: round(flooded.heapUsed / MiB), after: round(after.heapUsed / MiB) },
      rssMiB: { start: round(start.rss / MiB), baseline: round(baseline.rss / MiB), flooded: round(flooded.rss / MiB), after: round(after.rss / MiB) },
      handles: { baseline: baseline.maps['repo.handles'], flooded: flooded.maps['repo.handles'], after: after.maps['repo.handles'] },
      unhandledRejections: after.unhandledRejections,
    })
    expect(after.unhandledRejections).toBe(0)
    expect(after.maps['repo.handles']).toBe(start.maps['repo.handles'])
    expect(after.maps['synchronizer.docSynchronizers']).toBe(baseline.maps['synchronizer.docSynchronizers'])
    // What a round leaves behind is bounded, not proportional to the IDs named (was ~35 KB per request and ~130 bytes per heads-requested ID, for ever).
    expect(after.heapUsed).toBeLessThan(baseline.heapUsed * 1.1)
  }, SCALE.timeoutMs)
})
