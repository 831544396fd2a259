/**
 * µs of CPU per one-to-one message through RelayHub.receive alone (no socket, no frame
 * decode): alice's change (checked, appended, stored, numbered, forwarded to bob, alice
 * acknowledged) and bob's acknowledgement, with the server's real LevelDB databases. The
 * rest of the server's CPU per message (`npm run bench:latency`) is the sockets, the
 * frames and the network adapter.
 * node --import tsx --conditions=@parley/source sync-server/test/measure/message-path.ts [messages ≤ 900]
 * PARLEY_MEASURE_STORE=0 leaves out the stores (memory storage, no index) to show their share;
 * PARLEY_MEASURE_PARALLEL=1 runs the measured segments at once (with PARLEY_MEASURE_SEGMENTS=k);
 * PARLEY_MEASURE_MEMBERS=k has k receivers (bob, bob2 …), each forwarded every change and acknowledging it (fan-out).
 */
import { next as A } from '@automerge/automerge'
import { generateAutomergeUrl, parseAutomergeUrl, type DocumentId, type Message, type PeerId } from '@automerge/automerge-repo'
import { appendEvent, DEFAULT_LIMITS, initSegment, MemoryStorageAdapter, sortUnique, type SegmentDoc } from '@parley/core'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { AccessRegistry } from '../../src/access/registry.ts'
import { EventIndex } from '../../src/events/event-index.ts'
import { RelayHub } from '../../src/relay/hub.ts'
import { openDatabases } from '../../src/storage/databases.ts'

const MEMBERS = Number(process.env.PARLEY_MEASURE_MEMBERS ?? 1)
const receivers = Array.from({ length: MEMBERS }, (_, i) => (i === 0 ? 'bob' : `bob${i + 1}`))
const N = Math.min(Number(process.argv[2] ?? 900), 900)
const WARMUP_SEGMENTS = 4
const store = process.env.PARLEY_MEASURE_STORE !== '0'
const newId = () => parseAutomergeUrl(generateAutomergeUrl()).documentId
const dir = await mkdtemp(join(tmpdir(), 'parley-path-'))
const databases = await openDatabases(dir, { retryMs: 1000, maxHeldBytes: 1 << 20, minFreeBytes: 0, log: pino({ level: 'silent' }) })
const registry = new AccessRegistry(databases.registry)
const index = new EventIndex(databases.events)
let sent = 0
const hub = new RelayHub({
  storage: store ? databases.documents : new MemoryStorageAdapter(),
  registry,
  limits: DEFAULT_LIMITS,
  index,
  send: () => void sent++,
  peerId: () => 'server' as PeerId,
  idleMs: 0,
  maxLoaded: 0,
  hooks: store ? { accepted: (conversation, _segment, events) => index.record(conversation, sortUnique(events)) } : {},
  log: pino({ level: 'silent' }),
})
const conversation = newId()
await registry.register(conversation, { type: 'head', members: { alice: 'owner', ...Object.fromEntries(receivers.map(user => [user, 'member'])) } })

/** A new segment of the conversation, with alice's writes prepared beforehand: each message's sync message and bob's acknowledgement after it. */
async function segment(count: number) {
  const segmentId = newId() as DocumentId
  const sync = (data: Uint8Array, peer: string) => ({ type: 'sync', senderId: peer, targetId: 'server', documentId: segmentId, data }) as Message & { documentId: DocumentId; data: Uint8Array }
  let doc = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
  await hub.receive(sync(A.encodeSyncMessage({ heads: A.getHeads(doc), need: [], have: [], changes: A.getAllChanges(doc) }), '@alice/a'), 'alice', '@alice/a' as PeerId)
  const start = A.getHeads(doc)
  for (const user of receivers) await hub.receive(sync(A.encodeSyncMessage({ heads: start, need: [], have: [{ lastSync: start, bloom: new Uint8Array() }], changes: [] }), `@${user}/b`), user, `@${user}/b` as PeerId)
  const steps: { change: Uint8Array; ack: Uint8Array }[] = []
  for (let i = 0; i < count; i++) {
    const before = A.getHeads(doc)
    doc = A.change(doc, d => appendEvent(d, { id: `${segmentId}-${i}`, type: 'message', author: 'alice', device: 'a', at: i, text: `message ${i} with about a hundred bytes of ordinary chat text in it, like most do` }))
    const heads = A.getHeads(doc)
    steps.push({
      change: A.encodeSyncMessage({ heads, need: [], have: [{ lastSync: before, bloom: new Uint8Array() }], changes: [A.getLastLocalChange(doc)!] }),
      ack: A.encodeSyncMessage({ heads, need: [], have: [{ lastSync: heads, bloom: new Uint8Array() }], changes: [] }),
    })
  }
  return async () => {
    for (const step of steps) {
      await hub.receive(sync(step.change, '@alice/a'), 'alice', '@alice/a' as PeerId)
      for (const user of receivers) await hub.receive(sync(step.ack, `@${user}/b`), user, `@${user}/b` as PeerId)
    }
  }
}

// A segment holds at most SEGMENT_SIZE events: warmed up on earlier segments, as a long-running server is.
// PARLEY_MEASURE_SEGMENTS=k measures k segments of N (say "measuring" first: a profiler can attach then).
const measuredSegments = Number(process.env.PARLEY_MEASURE_SEGMENTS ?? 1)
const warmups = []
for (let i = 0; i < WARMUP_SEGMENTS; i++) warmups.push(await segment(MEMBERS > 1 ? 100 : 900))
const runs = []
for (let i = 0; i < measuredSegments; i++) runs.push(await segment(N))
for (const warmup of warmups) await warmup()
if (measuredSegments > 1) {
  process.stderr.write('measuring\n')
  await new Promise(resolve => setTimeout(resolve, 1000))
}
sent = 0
const before = process.cpuUsage()
// PARLEY_MEASURE_PARALLEL=1: the measured segments (conversations' segments) all at once, as many conversations are.
if (process.env.PARLEY_MEASURE_PARALLEL === '1') await Promise.all(runs.map(run => run()))
else for (const run of runs) await run()
await hub.flush()
const used = process.cpuUsage(before)
console.log(`${((used.user + used.system) / (N * measuredSegments)).toFixed(1)} µs CPU per message through RelayHub.receive (change + ${MEMBERS} acknowledgement${MEMBERS > 1 ? 's' : ''}${store ? ', LevelDB stores' : ', no stores'}; ${sent} frames sent)`)
await hub.close()
await databases.close()
await rm(dir, { recursive: true, force: true })
