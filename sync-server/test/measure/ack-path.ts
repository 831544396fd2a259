/**
 * µs per acknowledgement on the relay core: a peer's change-less sync message saying it
 * has the segment's heads, through RelayHub.receive alone (no socket, no frame decode).
 * node --import tsx --conditions=@parley/source sync-server/test/measure/ack-path.ts
 */
import { next as A } from '@automerge/automerge'
import { generateAutomergeUrl, parseAutomergeUrl, type DocumentId, type Message, type PeerId } from '@automerge/automerge-repo'
import { appendEvent, DEFAULT_LIMITS, initSegment, MemoryStorageAdapter, type SegmentDoc } from '@parley/core'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { AccessRegistry } from '../../src/access/registry.ts'
import { RelayHub } from '../../src/relay/hub.ts'
import { openDatabases } from '../../src/storage/databases.ts'

const newId = () => parseAutomergeUrl(generateAutomergeUrl()).documentId
const dir = await mkdtemp(join(tmpdir(), 'parley-ack-'))
const databases = await openDatabases(dir, { retryMs: 1000, maxHeldBytes: 1 << 20, minFreeBytes: 0, log: pino({ level: 'silent' }) })
const registry = new AccessRegistry(databases.registry)
let sent = 0
const hub = new RelayHub({ storage: new MemoryStorageAdapter(), registry, limits: DEFAULT_LIMITS, send: () => void sent++, peerId: () => 'server' as PeerId, idleMs: 0, maxLoaded: 0, hooks: {}, log: pino({ level: 'silent' }) })
const conversation = newId()
await registry.register(conversation, { type: 'head', members: { alice: 'owner', bob: 'member' } })
const segmentId = newId() as DocumentId
let doc = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
doc = A.change(doc, d => appendEvent(d, { id: 'e1', type: 'message', author: 'alice', device: 'a', at: 1, text: 'hello' }))
const sync = (data: Uint8Array, peer: string) => ({ type: 'sync', senderId: peer, targetId: 'server', documentId: segmentId, data }) as Message & { documentId: DocumentId; data: Uint8Array }
await hub.receive(sync(A.encodeSyncMessage({ heads: A.getHeads(doc), need: [], have: [], changes: A.getAllChanges(doc) }), '@alice/a'), 'alice', '@alice/a' as PeerId, undefined, () => true)
// Bob's state, and his acknowledgement of the heads.
let bob = A.initSyncState()
let bobDoc = A.init<SegmentDoc>()
const ack = A.encodeSyncMessage({ heads: A.getHeads(doc), need: [], have: [{ lastSync: A.getHeads(doc), bloom: new Uint8Array() }], changes: [] })
void bob
void bobDoc
const N = 20_000
for (let i = 0; i < 2000; i++) await hub.receive(sync(ack, '@bob/b'), 'bob', '@bob/b' as PeerId)
const start = process.cpuUsage()
for (let i = 0; i < N; i++) await hub.receive(sync(ack, '@bob/b'), 'bob', '@bob/b' as PeerId)
const used = process.cpuUsage(start)
console.log(`${((used.user + used.system) / N).toFixed(1)} µs CPU per acknowledgement through RelayHub.receive (${sent} messages sent)`)
await hub.close()
await databases.close()
await rm(dir, { recursive: true, force: true })
