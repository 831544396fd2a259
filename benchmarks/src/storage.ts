/**
 * npm run bench:storage [-- --quick]
 *
 * Bytes on the server's disk per message (~100-byte texts), after compaction, against
 * the raw event JSON the messages amount to. Parley is a real parley-server process fed
 * by a real client over sync; the baselines store the same messages their own way: stock
 * automerge-repo (one document, NodeFS storage) and Yjs (the update Hocuspocus persists).
 */
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs'
import { createClient } from '@parley/client'
import { Repo } from 'automerge-repo-stock'
import { SignJWT } from 'jose'
import { Level } from 'level'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as Y from 'yjs'
import { keysAfter } from '../../sync-server/src/storage/json-database.ts'
import { EVENTS_PREFIX } from '../../sync-server/src/storage/level-event-store.ts'
import { freePort, spawnServer, stop } from './lib/processes.ts'
import { renderTable, writeResults } from './lib/results.ts'
import { QUICK } from './lib/args.ts'

const MESSAGES = QUICK ? 2_000 : 10_000
const SECRET = 'benchmark-secret-not-for-production'
const PARLEY_BIN = fileURLToPath(new URL('../../sync-server/bin/parley-server.js', import.meta.url))

/**
 * ~100 bytes of seeded random lowercase words: repetitive test texts ("message 1 xxxx…")
 * compress to nothing in Automerge's columns and LevelDB's blocks and would flatter
 * everyone.
 */
function messageText(i: number): string {
  let seed = (i + 1) * 2_654_435_761
  const next = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648)
  let text = ''
  while (text.length < 100) {
    const length = 2 + Math.floor(next() * 7)
    for (let c = 0; c < length; c++) text += String.fromCharCode(97 + Math.floor(next() * 26))
    text += ' '
  }
  return text.trimEnd()
}

interface Row {
  system: string
  bytes: number
  bytesPerMessage: number
  ratioToJson: number
}

/** The messages as plain events, the way the API returns them: the floor. */
function rawJsonBytes(): number {
  let bytes = 0
  for (let i = 0; i < MESSAGES; i++) {
    bytes += Buffer.byteLength(JSON.stringify({ id: 'xxxxxxxxxxxxxxxx', type: 'message', author: 'alice', device: 'xxxxxxxxxxxxxxxx', at: 1_800_000_000_000 + i, text: messageText(i) }))
  }
  return bytes
}

async function du(path: string): Promise<number> {
  const info = await stat(path)
  if (!info.isDirectory()) return info.size
  let total = 0
  for (const entry of await readdir(path)) total += await du(join(path, entry))
  return total
}

/** Compacts a LevelDB; returns the bytes its keys from `from` to `to` then take. */
async function compact(location: string, [from, to] = ['', '']): Promise<number> {
  // `level` in Node is classic-level, which can compact and measure; its type does not say so.
  const db = new Level(location) as Level & { compactRange(start: string, end: string): Promise<void>; approximateSize(start: string, end: string): Promise<number> }
  await db.open()
  await db.compactRange('\u0000', '\uffff')
  const bytes = from < to ? await db.approximateSize(from, to) : 0
  await db.close()
  return bytes
}

/** Parley's documents alone, and its whole data directory (with the access registry and the event index). */
async function parley(): Promise<{ documents: number; total: number }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'parley-bench-storage-'))
  const port = await freePort()
  const server = await spawnServer(process.execPath, [PARLEY_BIN, '--port', String(port), '--data', dataDir, '--jwt-secret', SECRET, '--log-level', 'warn'])
  try {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))
    const client = await createClient({ server: `ws://127.0.0.1:${port}/sync`, token, storage: { kind: 'memory' } })
    const conversation = await client.createConversation({ members: ['bob'] })
    for (let i = 0; i < MESSAGES; i++) await conversation.send(messageText(i))
    await client.sync({ timeout: 120_000 })
    await client.close()
    await stop(server) // SIGTERM: flushes every document
    // The event index shares the documents' database, under its own prefix.
    const eventIndex = await compact(join(dataDir, 'db'), [EVENTS_PREFIX, keysAfter(EVENTS_PREFIX)])
    await compact(join(dataDir, 'acl'))
    return { documents: (await du(join(dataDir, 'db'))) - eventIndex, total: await du(dataDir) }
  } finally {
    await stop(server)
    await rm(dataDir, { recursive: true, force: true })
  }
}

async function stockAutomergeRepo(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-bench-storage-stock-'))
  try {
    const repo = new Repo({ storage: new NodeFSStorageAdapter(dir) })
    const handle = repo.create<{ messages: { author: string; at: number; text: string }[] }>({ messages: [] })
    for (let i = 0; i < MESSAGES; i++) handle.change(doc => void doc.messages.push({ author: 'alice', at: 1_800_000_000_000 + i, text: messageText(i) }))
    await repo.flush()
    await repo.shutdown()
    return await du(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

function yjs(): number {
  const doc = new Y.Doc()
  const messages = doc.getArray<{ author: string; at: number; text: string }>('messages')
  for (let i = 0; i < MESSAGES; i++) messages.push([{ author: 'alice', at: 1_800_000_000_000 + i, text: messageText(i) }])
  return Y.encodeStateAsUpdate(doc).byteLength
}

const json = rawJsonBytes()
const rows: Row[] = []
const row = (system: string, bytes: number): Row => ({ system, bytes, bytesPerMessage: Math.round(bytes / MESSAGES), ratioToJson: Math.round((bytes / json) * 100) / 100 })
rows.push(row('raw event JSON (floor)', json))
process.stderr.write(`storage: Parley (${MESSAGES} messages through a real server)…\n`)
const ours = await parley()
rows.push(row('Parley: conversation documents (data/db)', ours.documents))
rows.push(row('Parley: all server data (+ access registry, event index)', ours.total))
process.stderr.write('storage: stock automerge-repo…\n')
rows.push(row('stock automerge-repo (NodeFS, one document)', await stockAutomergeRepo()))
process.stderr.write('storage: Yjs…\n')
rows.push(row('Yjs (the update Hocuspocus persists)', yjs()))

const table = renderTable({ headers: ['system', 'bytes', 'bytes/message', '× raw JSON'], rows: rows.map(r => [r.system, r.bytes, r.bytesPerMessage, r.ratioToJson]) })
const command = `npm run bench:storage${QUICK ? ' -- --quick' : ''}`
console.log(`\n${table}\n`)
const notes = `${MESSAGES} messages of ~100 bytes of seeded random words in one conversation, on the server's disk after compaction (LevelDB compacted; automerge-repo compacts its own chunks). Target: ≤ 1.5× the raw event JSON. Parley's total includes the event index (each event's JSON again, for paging by server sequence) and the access registry (each accepted change's hash).`
const out = await writeResults('storage', command, rows, `${notes}\n\n${table}`)
console.log(`wrote ${out} and RESULTS.md`)
process.exit(0)
