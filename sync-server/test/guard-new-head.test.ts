/**
 * A new head's check registers the head with its members before it reserves the segment
 * IDs it lists (access/guard.ts): the other way round, each reservation's write left a
 * moment in which the conversation's own creator could not read its first segment (a
 * reserved segment of a head not registered yet), and an answer about that segment sent
 * then became doc-unavailable (network/server-adapter.ts).
 */
import { next as A } from '@automerge/automerge'
import { generateAutomergeUrl, parseAutomergeUrl, Repo, type Message, type PeerId } from '@automerge/automerge-repo'
import { DEFAULT_LIMITS, initHead, MemoryStorageAdapter, type HeadDoc } from '@parley/core'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { expect, it } from 'vitest'
import { SyncGuard } from '../src/access/guard.ts'
import { AccessRegistry, type RegistryStore } from '../src/access/registry.ts'
import { openDatabases } from '../src/storage/databases.ts'

const newId = () => parseAutomergeUrl(generateAutomergeUrl()).documentId

it('lets the creator read the first segment throughout the check of a new head', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parley-guard-head-'))
  const databases = await openDatabases(dir, { retryMs: 1000, maxHeldBytes: 1 << 20, minFreeBytes: 0, log: pino({ level: 'silent' }) })
  const [headId, segmentId] = [newId(), newId()]
  // What the creator may read of the segment at each registry write the check makes.
  const readable: boolean[] = []
  const store = new Proxy(databases.registry, {
    get(target, name) {
      const value = Reflect.get(target, name) as unknown
      if (name !== 'setEntry' || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value
      return (...args: Parameters<RegistryStore['setEntry']>) => {
        readable.push(registry.canRead('alice', segmentId))
        return (value as RegistryStore['setEntry']).apply(target, args)
      }
    },
  })
  const registry = new AccessRegistry(store)
  const repo = new Repo({ network: [] })
  try {
    const guard = new SyncGuard(repo, registry, DEFAULT_LIMITS, new MemoryStorageAdapter())
    // As on the server: the segment's change-less first message loaded its (absent) entry.
    await registry.entry(segmentId)
    expect(registry.canRead('alice', segmentId)).toBe(true)
    const head = A.change(A.init<HeadDoc>(), doc => initHead(doc, { kind: 'group', title: 'Trip', creator: 'alice', members: ['bob'], at: Date.now(), firstSegment: segmentId }))
    const data = A.encodeSyncMessage({ heads: A.getHeads(head), need: [], have: [], changes: A.getAllChanges(head) })
    const verdict = await guard.inspect({ type: 'sync', senderId: 'alice-1' as PeerId, targetId: 'server' as PeerId, documentId: headId, data } as Message, 'alice')
    expect(verdict.ok).toBe(true)
    expect(readable).toEqual([true, true])
    expect(await registry.entry(segmentId)).toMatchObject({ type: 'segment', conversation: headId, reserved: true })
  } finally {
    repo.shutdown()
    await databases.close()
    await rm(dir, { recursive: true, force: true })
  }
})
