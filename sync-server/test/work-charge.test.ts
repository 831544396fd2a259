/**
 * The rate limit weighs decoding work (docs/security.md, "Rate limits weigh work"): the
 * weights, the bucket's debt, the charge between measuring and decoding, and the relay
 * core's path (the repo path is tested end to end in test/hostile/work-weighted-rate.test.ts).
 */
import { next as A } from '@automerge/automerge'
import { generateAutomergeUrl, parseAutomergeUrl, type DocumentId, type Message, type PeerId } from '@automerge/automerge-repo'
import { appendEvent, DEFAULT_LIMITS, initSegment, MemoryStorageAdapter, type SegmentDoc } from '@parley/core'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { ChunkError, DECODE_BUDGET, decodeChanges } from '../src/access/chunks.ts'
import { AccessRegistry } from '../src/access/registry.ts'
import { TokenBucket, UserRates, workTokens } from '../src/network/rate-limit.ts'
import { RelayHub } from '../src/relay/hub.ts'
import { openDatabases } from '../src/storage/databases.ts'

const newId = () => parseAutomergeUrl(generateAutomergeUrl()).documentId

/** A segment with `events` messages by alice, and its changes. */
function segment(conversation: string, events: number): { doc: SegmentDoc; changes: Uint8Array[] } {
  let doc = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
  for (let i = 0; i < events; i++) doc = A.change(doc, d => appendEvent(d, { id: `e${i}`, type: 'message', author: 'alice', device: 'a', at: i + 1, text: `hello ${i}` }))
  return { doc, changes: A.getAllChanges(doc) }
}

describe('weights', () => {
  it('charges nothing more for a chat line, hundreds for a message at the decode budget', () => {
    const { doc } = segment(newId(), 1)
    const line = A.getLastLocalChange(doc)!
    let work = { rows: 0, bytes: 0 }
    decodeChanges([line], DECODE_BUDGET, measured => ((work = measured), true))
    expect(work.rows).toBeGreaterThan(0)
    expect(workTokens(work)).toBe(0)
    expect(workTokens({ rows: DECODE_BUDGET.rows, bytes: DECODE_BUDGET.bytes })).toBe(288)
  })

  it('lets the bucket go into debt once, then refuses until it is paid', () => {
    const bucket = new TokenBucket(10, 100, 0)
    expect(bucket.take(0, 250)).toBe(true)
    expect(bucket.tokens(0)).toBe(-150)
    expect(bucket.take(0)).toBe(false)
    expect(bucket.take(15_000)).toBe(false) // -150 + 150 = 0 tokens
    expect(bucket.take(15_100)).toBe(true)
  })

  it('marks a user refused for their work as rate limited, until the bucket is half full', () => {
    const rates = new UserRates(10, 100)
    expect(rates.spend('mallory', 0, 0)).toBe(true)
    expect(rates.spend('mallory', 300, 0)).toBe(true)
    expect(rates.spend('mallory', 300, 0)).toBe(false)
    expect(rates.retryAfterMs('mallory', 0)).toBe(25_000) // from -200 to 50
    expect(rates.take('alice', 0)).toBe(true)
  })
})

describe('the charge in decodeChanges', () => {
  it('is asked the measured work before anything is decoded; a refusal throws rate-limited', () => {
    const { changes } = segment(newId(), 3)
    const asked: { rows: number; bytes: number }[] = []
    expect(() => decodeChanges(changes, DECODE_BUDGET, work => (asked.push(work), false))).toThrow(expect.objectContaining({ kind: 'rate-limited' }) as ChunkError)
    expect(asked).toHaveLength(1)
    expect(decodeChanges(changes, DECODE_BUDGET, () => true).decoded).toHaveLength(4)
  })
})

describe('the relay core (--relay-core)', () => {
  it('closes a sender with 4429 when their charge is refused, and appends nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-charge-'))
    const databases = await openDatabases(dir, { retryMs: 1000, maxHeldBytes: 1 << 20, minFreeBytes: 0, log: pino({ level: 'silent' }) })
    const registry = new AccessRegistry(databases.registry)
    const hub = new RelayHub({ storage: new MemoryStorageAdapter(), registry, limits: DEFAULT_LIMITS, send: () => {}, peerId: () => 'server' as PeerId, idleMs: 0, maxLoaded: 0, hooks: {}, log: pino({ level: 'silent' }) })
    try {
      const conversation = newId()
      await registry.register(conversation, { type: 'head', members: { alice: 'owner' } })
      const segmentId = newId() as DocumentId
      const { doc, changes } = segment(conversation, 20)
      const message = { type: 'sync', senderId: '@alice/a', targetId: 'server', documentId: segmentId, data: A.encodeSyncMessage({ heads: A.getHeads(doc), need: [], have: [], changes }) } as Message & { documentId: DocumentId; data: Uint8Array }
      const asked: { rows: number; bytes: number }[] = []
      const violation = await hub.receive(message, 'alice', '@alice/a' as PeerId, undefined, work => (asked.push(work), false))
      expect(violation?.code).toBe(4429)
      expect(asked[0]!.rows).toBeGreaterThanOrEqual(21)
      expect(await hub.heads(segmentId)).toBeNull()
      // Charged and paid: accepted.
      expect(await hub.receive(message, 'alice', '@alice/a' as PeerId, undefined, () => true)).toBeUndefined()
      expect(await hub.heads(segmentId)).toEqual(A.getHeads(doc))
    } finally {
      await hub.close()
      await databases.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('charges the decode that tells whether an unregistered document is a new segment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-charge-'))
    const databases = await openDatabases(dir, { retryMs: 1000, maxHeldBytes: 1 << 20, minFreeBytes: 0, log: pino({ level: 'silent' }) })
    const registry = new AccessRegistry(databases.registry)
    const hub = new RelayHub({ storage: new MemoryStorageAdapter(), registry, limits: DEFAULT_LIMITS, send: () => {}, peerId: () => 'server' as PeerId, idleMs: 0, maxLoaded: 0, hooks: {}, log: pino({ level: 'silent' }) })
    try {
      // Not a segment (a map of 300 keys at the root): decoded to find out, and paid for.
      const doc = A.change(A.init<Record<string, number>>(), d => {
        for (let i = 0; i < 300; i++) d[`k${i}`] = i
      })
      const data = A.encodeSyncMessage({ heads: A.getHeads(doc), need: [], have: [], changes: A.getAllChanges(doc) })
      const asked: { rows: number; bytes: number }[] = []
      expect(await hub.serves(newId(), data, work => (asked.push(work), true))).toBe(false)
      expect(asked).toHaveLength(1)
      expect(asked[0]!.rows).toBeGreaterThanOrEqual(300)
      // A refused charge decodes nothing: the repo path's guard asks again and closes with 4429.
      expect(await hub.serves(newId(), data, () => false)).toBe(false)
    } finally {
      await hub.close()
      await databases.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
