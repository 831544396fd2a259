/**
 * npm run bench:segments [-- --quick]
 *
 * Cost of opening the newest page (50 messages) and of appending one message, on a
 * conversation of 100 vs 20,000 messages in a local LevelDB replica (no server):
 * Parley's segmented log beside one flat document holding every event, which is how a
 * conversation looks in a stock automerge-repo app.
 */
import { Repo, type DocumentId } from '@automerge/automerge-repo'
import { createClient } from '@parley/client'
import { closableStorage, LevelStorageAdapter, randomId, readSegmentEvents, scalar, type LevelDatabase, type SegmentDoc } from '@parley/core'
import { Level } from 'level'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildReplica, messageText } from './lib/replica.ts'
import { renderTable, writeResults } from './lib/results.ts'
import { median } from './lib/stats.ts'
import { QUICK } from './lib/args.ts'

const SIZES = [100, 20_000]
const APPENDS = QUICK ? 30 : 200
const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
const TOKEN = `${encode({ alg: 'none' })}.${encode({ sub: 'alice' })}.`

interface Row {
  layout: string
  messages: number
  openMs: number
  appendMedianMs: number
}

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'parley-bench-segments-'))
}

async function segmented(messages: number): Promise<Row> {
  const dir = await tempDir()
  try {
    const id = await buildReplica(dir, messages)
    const client = await createClient({ token: TOKEN, storage: { kind: 'level', dir } })
    const start = performance.now()
    const conversation = await client.conversation(id)
    conversation.timeline().slice(-50)
    const openMs = performance.now() - start
    const appends: number[] = []
    for (let i = 0; i < APPENDS; i++) {
      const t = performance.now()
      await conversation.send(`appended ${i}`)
      appends.push(performance.now() - t)
    }
    await client.close()
    return { layout: 'Parley segments (1,000 events each)', messages, openMs, appendMedianMs: median(appends) }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** One document holding every event, written and read the same way (scalar JSON strings). */
async function flat(messages: number): Promise<Row> {
  const dir = await tempDir()
  const open = () => {
    const db = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
    const storage = closableStorage(new LevelStorageAdapter(db as unknown as LevelDatabase), () => db.close())
    return { repo: new Repo({ storage: storage.adapter }), storage }
  }
  try {
    const first = open()
    const handle = first.repo.create<SegmentDoc>()
    handle.change(doc => {
      doc.events = []
      for (let i = 0; i < messages; i++) doc.events.push(scalar(JSON.stringify({ id: randomId(), type: 'message', author: 'alice', device: 'd', at: i, text: messageText(i) })))
    })
    await first.repo.flush()
    await first.storage.close()

    const second = open()
    const start = performance.now()
    const loaded = await second.repo.find<SegmentDoc>(handle.documentId as DocumentId)
    readSegmentEvents(loaded.doc(), Math.max(0, messages - 50))
    const openMs = performance.now() - start
    const appends: number[] = []
    for (let i = 0; i < APPENDS; i++) {
      const t = performance.now()
      loaded.change(doc => void doc.events.push(scalar(JSON.stringify({ id: randomId(), type: 'message', author: 'alice', device: 'd', at: messages + i, text: `appended ${i}` }))))
      await second.repo.flush([loaded.documentId])
      appends.push(performance.now() - t)
    }
    await second.storage.close()
    return { layout: 'one flat document', messages, openMs, appendMedianMs: median(appends) }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

// Warm up (JIT, WASM) so the first measured row is not charged for it.
await segmented(100)
await flat(100)
const rows: Row[] = []
for (const messages of SIZES) {
  for (const measure of [segmented, flat]) {
    process.stderr.write(`segments: ${measure.name} layout, ${messages} messages…\n`)
    rows.push(await measure(messages))
  }
}
const round = (value: number) => Math.round(value * 100) / 100
const table = renderTable({
  headers: ['layout', 'messages', 'open newest page ms', 'append median ms'],
  rows: rows.map(row => [row.layout, row.messages, round(row.openMs), round(row.appendMedianMs)]),
})
const growth = (layout: string, key: 'openMs' | 'appendMedianMs') => {
  const [small, large] = rows.filter(row => row.layout === layout)
  return `${(large![key] / small![key]).toFixed(1)}×`
}
const summary = [
  `- From 100 to 20,000 messages, Parley's open grows ${growth(rows[0]!.layout, 'openMs')} and its append ${growth(rows[0]!.layout, 'appendMedianMs')};`,
  `  the flat document's open grows ${growth('one flat document', 'openMs')} and its append ${growth('one flat document', 'appendMedianMs')}.`,
].join('\n')
const command = `npm run bench:segments${QUICK ? ' -- --quick' : ''}`
console.log(`\n${table}\n\n${summary}\n`)
const json = await writeResults('segments', command, rows, `Local LevelDB replica, no server; open = load the conversation and project its newest 50 messages; append = one \`send\` stored locally (median of ${APPENDS}).\n\n${table}\n\n${summary}`)
console.log(`wrote ${json} and RESULTS.md`)
process.exit(0)
