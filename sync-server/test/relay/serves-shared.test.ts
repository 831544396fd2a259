/**
 * In a cluster (a bus, the registry shared in PostgreSQL), the relay core reads a cached
 * "unregistered" again before it answers whether it serves a document (hub.ts serves).
 * It dropped the cached absence first: for that read's round trip a head not registered
 * yet was unknown, its segments unreadable to their own creator (access/registry.ts
 * canRead), and the relay's acknowledgement of a new segment sent then became
 * doc-unavailable (network/server-adapter.ts): bench:cluster's sender timed out in sync().
 */
import { generateAutomergeUrl, parseAutomergeUrl, type PeerId } from '@automerge/automerge-repo'
import { DEFAULT_LIMITS, MemoryStorageAdapter } from '@parley/core'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { expect, it } from 'vitest'
import { AccessRegistry, type RegistryStore } from '../../src/access/registry.ts'
import type { SegmentBus } from '../../src/relay/bus.ts'
import { RelayHub } from '../../src/relay/hub.ts'
import { openDatabases } from '../../src/storage/databases.ts'

const newId = () => parseAutomergeUrl(generateAutomergeUrl()).documentId

it('keeps a segment readable by its creator while it reads its unregistered head again', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parley-serves-shared-'))
  const databases = await openDatabases(dir, { retryMs: 1000, maxHeldBytes: 1 << 20, minFreeBytes: 0, log: pino({ level: 'silent' }) })
  const [head, segment] = [newId(), newId()]
  // The store's read of the head waits until released, as a PostgreSQL round trip would.
  let release = (): void => {}
  let held: Promise<void> | undefined
  let reached = (): void => {}
  const store = new Proxy(databases.registry, {
    get(target, name) {
      const value = Reflect.get(target, name) as unknown
      if (typeof value !== 'function') return value
      if (name !== 'entry') return value.bind(target)
      return async (documentId: string) => {
        if (documentId === head && held) {
          reached()
          await held
        }
        return (value as RegistryStore['entry']).call(target, documentId)
      }
    },
  })
  const registry = new AccessRegistry(store)
  const bus: SegmentBus = { attach: () => {}, join: () => {}, leave: () => {}, hears: () => true, publish: () => {} }
  const hub = new RelayHub({ storage: new MemoryStorageAdapter(), registry, limits: DEFAULT_LIMITS, send: () => {}, peerId: () => 'server' as PeerId, idleMs: 0, maxLoaded: 0, hooks: {}, log: pino({ level: 'silent' }), bus })
  try {
    // Alice's new segment, accepted before its head: readable by her alone.
    expect(await registry.entry(head)).toBeNull()
    await registry.register(segment, { type: 'segment', conversation: head, creator: 'alice' })
    expect(registry.canRead('alice', segment)).toBe(true)

    // The head's first message asks whether the hub serves it: the head is read again.
    held = new Promise(resolve => (release = resolve))
    const reading = new Promise<void>(resolve => (reached = resolve))
    const serves = hub.serves(head)
    await reading
    expect(registry.canRead('alice', segment)).toBe(true)
    release()
    expect(await serves).toBe(false)
    expect(registry.canRead('alice', segment)).toBe(true)
  } finally {
    release()
    await hub.close()
    await databases.close()
    await rm(dir, { recursive: true, force: true })
  }
})
