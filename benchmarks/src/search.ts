/**
 * npm run bench:search [-- --quick]
 *
 * Search on the device (issue 18, docs/search.md) at 100,000 local messages (--quick:
 * 10,000): one `@parley/client` on LevelDB, offline, sends them into 20 conversations
 * (~5 segments each), so the index is built as it is in use, message by message. Then:
 *
 * - sizes: the bytes of every stored value in the replica's LevelDB, the index's
 *   (`parley-search` keys) against the rest (the documents and the device's state);
 * - a cold start: a new client on the same directory loads the index (no rebuild: the
 *   messages it holds at start are counted);
 * - query time: `client.search` for single words (common, mid, rare), prefixes, two
 *   words, and each with a conversation or time filter; p50/p95/max per kind and all;
 * - the index built from nothing in this process (MiniSearch through the SDK's
 *   MessageIndex, every message applied once), and the snapshot's serialization;
 * - a replica with no stored index (a device from before search): opening every
 *   conversation and paging in every segment indexes it all; its time.
 */
import { createClient, type ParleyClient, type SearchOptions } from '@parley/client'
import type { ParleyEvent } from '@parley/core'
import { Level } from 'level'
import { mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzip, gzip } from '../../clients/sdk/src/search/gzip.ts'
import { MessageIndex } from '../../clients/sdk/src/search/message-index.ts'
import type { ShardState } from '../../clients/sdk/src/search/shard.ts'
import { QUICK } from './lib/args.ts'
import { renderTable, writeResults } from './lib/results.ts'
import { summarize } from './lib/stats.ts'
import { seededRandom } from '../../test/reliability/support/random.ts'

const MESSAGES = QUICK ? 10_000 : 100_000
const CONVERSATIONS = 20
const VOCABULARY = 5_000
/** Sends in flight at once (each resolves once stored). */
const PIPELINE = 500
const QUERIES_PER_KIND = QUICK ? 40 : 100

const token = (user: string) => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: user })).toString('base64url')}.`


/** Made-up words, used with a Zipf-like frequency (word i about 1/i as often as the first). */
const rand = seededRandom(18)
const syllables = ['ka', 'lo', 'mi', 'ren', 'sa', 'tu', 'vel', 'dor', 'ix', 'ne', 'por', 'qua', 'sti', 'bar', 'el', 'fin']
const words = Array.from({ length: VOCABULARY }, (_, i) => {
  let word = ''
  for (let n = i + 1, parts = 0; n > 0 || parts < 2; n = Math.floor(n / 16), parts++) word += syllables[n % 16]
  return word
})
const harmonic = words.reduce((sum, _, i) => sum + 1 / (i + 1), 0)
function word(): string {
  let target = rand() * harmonic
  for (let i = 0; i < words.length; i++) if ((target -= 1 / (i + 1)) <= 0) return words[i]!
  return words.at(-1)!
}
function text(): string {
  const length = 4 + Math.floor(rand() * 16)
  return Array.from({ length }, word).join(' ')
}

function ms(value: number): string {
  return value < 10 ? value.toFixed(2) : value.toFixed(0)
}

async function storedBytes(dir: string): Promise<{ index: number; replica: number }> {
  const db = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
  await db.open()
  let index = 0
  let replica = 0
  for await (const [key, value] of db.iterator()) {
    if (key.startsWith('parley-search\u0000')) index += key.length + value.byteLength
    else replica += key.length + value.byteLength
  }
  await db.close()
  return { index, replica }
}

async function openClient(dir: string): Promise<ParleyClient> {
  return createClient({ token: token('alice'), storage: { kind: 'level', dir } })
}

/** The machine is shared: its load during the run is part of the figures. */
const load = () => loadavg().map(value => value.toFixed(1)).join(', ')
const loadAtStart = load()
const dir = await mkdtemp(join(tmpdir(), 'parley-bench-search-'))
try {
  // 1. The replica, indexed as it is written.
  const writer = await openClient(dir)
  const conversations = await Promise.all(Array.from({ length: CONVERSATIONS }, (_, i) => writer.createConversation({ title: `c${i}` })))
  const ids = conversations.map(conversation => conversation.id)
  const buildStart = performance.now()
  for (let sent = 0; sent < MESSAGES; ) {
    const batch: Promise<string>[] = []
    for (; batch.length < PIPELINE && sent < MESSAGES; sent++) batch.push(conversations[sent % CONVERSATIONS]!.send(text()))
    await Promise.all(batch)
    if (sent % 10_000 === 0) console.log(`${sent} messages stored`)
  }
  const ingestMs = performance.now() - buildStart
  const times = conversations.map(conversation => conversation.timeline().map(item => item.at))
  await writer.close()
  const bytes = await storedBytes(dir)
  console.log('sizes', bytes)

  // 2. Cold start: the index is loaded, not rebuilt.
  const coldStart = performance.now()
  const reader = await openClient(dir)
  const coldMs = performance.now() - coldStart
  const stats = await reader.searchStats()
  console.log('cold start', ms(coldMs), stats)

  // 3. Queries.
  const loadBeforeQueries = load()
  const pick = <T>(list: readonly T[]) => list[Math.floor(rand() * list.length)]!
  const allTimes = times.flat().sort((a, b) => a - b)
  const kinds: [string, () => [string, SearchOptions?]][] = [
    ['one common word (top 20)', () => [words[Math.floor(rand() * 20)]!]],
    ['one mid word (rank 100–1,000)', () => [words[100 + Math.floor(rand() * 900)]!]],
    ['one rare word (rank 2,000+)', () => [words[2000 + Math.floor(rand() * 3000)]!]],
    ['prefix, 3 letters', () => [words[Math.floor(rand() * 200)]!.slice(0, 3)]],
    ['two words', () => [`${words[Math.floor(rand() * 50)]} ${words[50 + Math.floor(rand() * 450)]}`]],
    ['common word, one conversation', () => [words[Math.floor(rand() * 20)]!, { conversation: pick(ids) }]],
    ['common word, a time range', () => {
      const from = allTimes[Math.floor(rand() * allTimes.length * 0.9)]!
      return [words[Math.floor(rand() * 20)]!, { after: from, before: from + (allTimes.at(-1)! - allTimes[0]!) / 10 }]
    }],
  ]
  const rows: (string | number)[][] = []
  const all: number[] = []
  for (const [kind, make] of kinds) {
    const took: number[] = []
    let found = 0
    for (let i = 0; i < QUERIES_PER_KIND; i++) {
      const [query, options] = make()
      const start = performance.now()
      found += (await reader.search(query, options)).length
      took.push(performance.now() - start)
    }
    all.push(...took)
    const summary = summarize(took)
    rows.push([kind, QUERIES_PER_KIND, (found / QUERIES_PER_KIND).toFixed(1), ms(summary.p50), ms(percentile95(took)), ms(summary.max)])
  }
  const allSummary = summarize(all)
  const p95 = percentile95(all)
  rows.push(['**all**', all.length, '', ms(allSummary.p50), `**${ms(p95)}**`, ms(allSummary.max)])
  await reader.close()

  // 4. The index alone, built from nothing in this process.
  const events: [string, ParleyEvent][] = []
  for (let i = 0; i < MESSAGES; i++) {
    events.push([ids[i % CONVERSATIONS]!, { type: 'message', id: `m${i}`, author: 'alice', device: 'd', at: 1_800_000_000_000 + i, text: text() }])
  }
  const indexStart = performance.now()
  const index = new MessageIndex()
  for (const [conversation, event] of events) index.apply(conversation, event)
  const indexMs = performance.now() - indexStart
  const serializeStart = performance.now()
  const stored = await Promise.all(index.shards.map(shard => gzip(JSON.stringify(shard.state()))))
  const serializeMs = performance.now() - serializeStart
  const storedSize = stored.reduce((sum, shard) => sum + shard.byteLength, 0)
  const restoreStart = performance.now()
  const shards = await Promise.all(stored.map(async shard => JSON.parse(await gunzip(shard)) as ShardState))
  new MessageIndex({ meta: index.meta(), shards })
  const restoreMs = performance.now() - restoreStart

  // 5. A replica with no index stored: everything indexed as its segments load.
  const db = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
  await db.open()
  await db.clear({ gte: 'parley-search\u0000', lt: 'parley-search\u0001' })
  await db.close()
  const rebuildStart = performance.now()
  const fresh = await openClient(dir)
  for (const id of ids) {
    const conversation = await fresh.conversation(id)
    while (conversation.hasOlder()) await conversation.loadOlder(1000)
  }
  const rebuildMs = performance.now() - rebuildStart
  const rebuilt = await fresh.searchStats()
  await fresh.close()

  const ratio = bytes.index / bytes.replica
  const mib = (value: number) => `${(value / 1024 ** 2).toFixed(1)} MiB`
  const summaryRows = [
    ['messages on the device', `${MESSAGES.toLocaleString('en')} in ${CONVERSATIONS} conversations, 4–19 words each from ${VOCABULARY.toLocaleString('en')} (Zipf-like)`],
    ['storing them, index kept as they are stored', `${(ingestMs / 1000).toFixed(1)} s (${ms(ingestMs / MESSAGES)} ms per message, ${PIPELINE} sends in flight)`],
    ['index built from nothing, in process (MessageIndex)', `${(indexMs / 1000).toFixed(2)} s (${((indexMs / MESSAGES) * 1000).toFixed(1)} µs per message)`],
    ['all its shards: write (JSON, gzip) / read back', `${ms(serializeMs)} ms / ${ms(restoreMs)} ms (${index.shards.length} shards, ${mib(storedSize)})`],
    ['cold start: the stored index ready (shards, journal), loaded in the background', `${ms(stats.loadMs)} ms after the client's start, sharing the thread with \`createClient\` (${ms(coldMs)} ms, which does not wait for it; here it loads every document an offline device has not yet synced); ${stats.loadedAtStart.toLocaleString('en')} messages in the index at start, ${stats.eventsIndexed} events parsed from segments`],
    ['no index stored: open and page in every segment', `${(rebuildMs / 1000).toFixed(1)} s; ${rebuilt.documents.toLocaleString('en')} messages indexed`],
    ['replica (documents and device state, stored bytes)', mib(bytes.replica)],
    ['index (snapshot and journal, stored bytes)', `${mib(bytes.index)}: **${(ratio * 100).toFixed(0)} %** of the replica (target ≤ 50 %)`],
    ['query p95, all kinds', `**${ms(p95)} ms** (target ≤ 30 ms)`],
  ]
  const queryTable = renderTable({ headers: ['query', 'queries', 'results (mean, ≤ 50)', 'p50 ms', 'p95 ms', 'max ms'], rows })
  const loadNote = `Load average (1, 5, 15 min) at the start ${loadAtStart}, before the queries ${loadBeforeQueries}, at the end ${load()}, on ${availableParallelism()} cores: other work on the machine slows every figure here.`
  const command = `npm run bench:search${QUICK ? ' -- --quick' : ''}`
  const markdown = `One \`@parley/client\` on LevelDB, offline, in one process (docs/search.md). Stored bytes are the keys and values in the replica's LevelDB, before LevelDB's own compression; the index is every \`parley-search\` key.\n\n${renderTable({ headers: ['', ''], rows: summaryRows })}\n\n\`client.search\` on the cold-started client, each call timed alone (${QUERIES_PER_KIND} per kind; one word: that word or any it starts; two words: the first whole, the second as a prefix):\n\n${queryTable}\n\n${loadNote}`
  console.log(`\n${markdown}\n`)
  const json = await writeResults('search', command, { messages: MESSAGES, ingestMs, indexMs, serializeMs, restoreMs, coldMs, stats, rebuildMs, bytes, ratio, queries: { p95, ...allSummary }, rows }, markdown)
  console.log(`wrote ${json} and RESULTS.md`)
} finally {
  await rm(dir, { recursive: true, force: true })
}

function percentile95(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)]!
}
