/** Relay hubs on their own, for the hub's tests: messages in, messages out, no network. */
import { next as A } from '@automerge/automerge'
import { generateAutomergeUrl, parseAutomergeUrl, type DocumentId, type Message, type PeerId } from '@automerge/automerge-repo'
import { DEFAULT_LIMITS, MemoryStorageAdapter } from '@parley/core'
import pino from 'pino'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach } from 'vitest'
import { AccessRegistry } from '../../src/access/registry.ts'
import type { SegmentBus } from '../../src/relay/bus.ts'
import { RelayHub, type RelayHooks } from '../../src/relay/hub.ts'
import { splitChunks } from '../../src/relay/change-chunk.ts'
import { openDatabases, type Databases } from '../../src/storage/databases.ts'

export const newId = () => parseAutomergeUrl(generateAutomergeUrl()).documentId
export const SERVER = 'server' as PeerId
export const ALICE = '@alice/a' as PeerId
export const BOB = '@bob/b' as PeerId

export const sync = (documentId: DocumentId, senderId: PeerId, data: Uint8Array, type: 'sync' | 'request' = 'sync') => ({ type, senderId, targetId: SERVER, documentId, data }) as Message & { documentId: DocumentId; data: Uint8Array }

export interface HubSetup {
  readonly storage?: MemoryStorageAdapter
  readonly maxLoaded?: number
  readonly bus?: SegmentBus
  readonly hooks?: RelayHooks
  /** The bus's SETTLE_MS for this hub (ms). */
  readonly settleMs?: number
}

/** Call in a `describe`: hubs made with it are closed, and their directories removed, after each test. */
export function hubHarness() {
  const cleanup: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step()
  })

  /** A hub with its own registry, in which alice (owner) and bob are the members of `conversation`. */
  async function setup({ storage = new MemoryStorageAdapter(), maxLoaded = 0, bus, hooks = {}, settleMs }: HubSetup = {}) {
    const dir = await mkdtemp(join(tmpdir(), 'parley-hub-'))
    const databases: Databases = await openDatabases(dir, { retryMs: 1000, maxHeldBytes: 1 << 20, minFreeBytes: 0, log: pino({ level: 'silent' }) })
    const registry = new AccessRegistry(databases.registry)
    const sent: Message[] = []
    const hub = new RelayHub({ storage, registry, limits: DEFAULT_LIMITS, send: message => sent.push(message), peerId: () => SERVER, idleMs: 0, maxLoaded, hooks, log: pino({ level: 'silent' }), ...(bus && { bus }), ...(settleMs !== undefined && { settleMs }) })
    cleanup.push(async () => {
      await hub.close()
      await databases.close()
      await rm(dir, { recursive: true, force: true })
    })
    const conversation = newId()
    await registry.register(conversation, { type: 'head', members: { alice: 'owner', bob: 'member' } })
    return { hub, registry, sent, conversation }
  }

  /** Another node on the same storage and registry (a cluster sharing PostgreSQL), with no bus and no peers of its own. */
  function otherNode(storage: MemoryStorageAdapter, registry: AccessRegistry): RelayHub {
    const other = new RelayHub({ storage, registry, limits: DEFAULT_LIMITS, send: () => {}, peerId: () => SERVER, idleMs: 0, maxLoaded: 0, hooks: {}, log: pino({ level: 'silent' }) })
    cleanup.push(() => other.close())
    return other
  }

  return { setup, otherNode }
}

/** Storage whose change-log writes, once `hold` is set, wait until the test releases them, each with the hashes of the changes it carries. */
export function heldWrites() {
  const storage = new MemoryStorageAdapter()
  const held = { storage, hold: true, writes: [] as { hashes: string[]; release: () => void }[] }
  const save = storage.save.bind(storage)
  storage.save = (key, data) => {
    if (key[1] !== 'incremental' || !held.hold) return save(key, data)
    return new Promise<void>(resolve => held.writes.push({ hashes: splitChunks(data).map(chunk => A.decodeChange(chunk).hash), release: () => void save(key, data).then(resolve) }))
  }
  return held
}

/** The hashes of the changes in the sync messages sent to `peer` (about `documentId`, if given). */
export function changesSentTo(sent: readonly Message[], peer: PeerId, documentId?: string): string[] {
  return sent
    .filter(message => message.targetId === peer && message.type === 'sync' && (documentId === undefined || message.documentId === documentId))
    .flatMap(message => A.decodeSyncMessage((message as Message & { data: Uint8Array }).data).changes.map(bytes => A.decodeChange(bytes).hash))
}
