/**
 * CPU per change the server makes itself (HTTP publish) on a segment of the relay core,
 * by how many events the segment holds: RelayHub.changeAsServer alone, memory storage.
 * node --import tsx --conditions=@parley/source sync-server/test/measure/server-change.ts
 */
import { generateAutomergeUrl, parseAutomergeUrl, type PeerId } from '@automerge/automerge-repo'
import { appendEvent, DEFAULT_LIMITS, initSegment, MemoryStorageAdapter } from '@parley/core'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { AccessRegistry } from '../../src/access/registry.ts'
import { RelayHub } from '../../src/relay/hub.ts'
import { openDatabases } from '../../src/storage/databases.ts'

const newId = () => parseAutomergeUrl(generateAutomergeUrl()).documentId
const dir = await mkdtemp(join(tmpdir(), 'parley-server-change-'))
const databases = await openDatabases(dir, { retryMs: 1000, maxHeldBytes: 1 << 20, minFreeBytes: 0, log: pino({ level: 'silent' }) })
const registry = new AccessRegistry(databases.registry)
const hub = new RelayHub({ storage: new MemoryStorageAdapter(), registry, limits: DEFAULT_LIMITS, send: () => {}, peerId: () => 'server' as PeerId, idleMs: 0, maxLoaded: 0, hooks: {}, log: pino({ level: 'silent' }) })
const conversation = newId()
await registry.register(conversation, { type: 'head', members: { alice: 'owner' } })
const segmentId = newId()
await hub.changeAsServer(segmentId, doc => initSegment(doc, conversation))
const text = 'an HTTP-published message of about a hundred bytes, as a bot or an integration would send it'
let n = 0
const publish = () => hub.changeAsServer(segmentId, doc => appendEvent(doc, { id: `e${++n}`, type: 'message', author: 'alice', device: 'http', at: n, text }))
const rows: string[] = []
for (const upTo of [100, 500, 900]) {
  const start = process.cpuUsage()
  const from = n
  while (n < upTo) await publish()
  const used = process.cpuUsage(start)
  rows.push(`events ${from}–${upTo}: ${((used.user + used.system) / 1000 / (upTo - from)).toFixed(2)} ms CPU per publish`)
}
console.log(rows.join('\n'))
await hub.close()
await databases.close()
await rm(dir, { recursive: true, force: true })
