/**
 * Search on the device (docs/search.md), on real LevelDB storage: the index follows
 * events as they are stored or arrive, one parse per new event; it is loaded, not rebuilt,
 * after a restart; edits and deletes update it; filters narrow it.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestServer, type TestServer } from '@parley/sync-server/testing'
import { Level } from 'level'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createClient, isParleyError, type ParleyClient } from '../src/index.ts'
import { testToken } from './helpers.ts'

const clients: ParleyClient[] = []
const dirs: string[] = []
let server: TestServer | undefined
afterEach(async () => {
  await Promise.all(clients.splice(0).map(client => client.close()))
  await server?.close()
  server = undefined
  await Promise.all(dirs.splice(0).map(dir => rm(dir, { recursive: true, force: true })))
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-search-'))
  dirs.push(dir)
  return dir
}

async function levelClient(dir: string, user = 'alice', options: { server?: string; token?: string; segmentSize?: number } = {}): Promise<ParleyClient> {
  const client = await createClient({
    token: options.token ?? testToken(user),
    server: options.server,
    storage: { kind: 'level', dir },
    segmentSize: options.segmentSize,
  })
  clients.push(client)
  return client
}

/** The kinds of search keys stored in a closed replica's LevelDB (meta, shard, journal). */
async function storedKinds(dir: string): Promise<string[]> {
  const db = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
  const kinds = new Set<string>()
  for await (const key of db.keys({ gte: 'parley-search\u0000', lt: 'parley-search\u0001' })) kinds.add(key.split('\u0000')[1]!)
  await db.close()
  return [...kinds]
}

async function closeClient(client: ParleyClient): Promise<void> {
  clients.splice(clients.indexOf(client), 1)
  await client.close()
}

describe('search on the device', () => {
  it('indexes each message as it is stored, parsing only the new event, and returns what a result needs', async () => {
    const client = await levelClient(await tempDir())
    const conversation = await client.createConversation({ title: 'plans' })
    for (let i = 0; i < 20; i++) await conversation.send(`filler message ${i}`)
    const before = (await client.searchStats()).eventsIndexed
    const id = await conversation.send('Lunch at the Harbour café?')
    expect((await client.searchStats()).eventsIndexed - before).toBe(1)
    const [result, ...rest] = (await client.search('harbour'))
    expect(rest).toEqual([])
    expect(result).toMatchObject({ conversation: conversation.id, id, author: 'alice', text: 'Lunch at the Harbour café?' })
    expect(result!.at).toBe(conversation.timeline().at(-1)!.at)
    expect(result!.matches).toEqual([[13, 20]])
    expect((await client.search('harb'))[0]!.matches).toEqual([[13, 20]]) // a prefix finds the word, and marks it whole
    expect((await client.search('lunch café')).map(r => r.id)).toEqual([id]) // every word must match
    expect((await client.search('lunch dinner'))).toEqual([])
    expect((await client.search('   '))).toEqual([])
  })

  it('is loaded from storage after a restart, not rebuilt, and finds messages of conversations not opened', async () => {
    const dir = await tempDir()
    const first = await levelClient(dir, 'alice', { segmentSize: 10 })
    const conversation = await first.createConversation({ title: 'archive' })
    for (let i = 0; i < 35; i++) await conversation.send(i === 17 ? 'the quarterly report is ready' : `note ${i}`)
    // Enough bytes of journal that the shards are written too (index-store.ts JOURNAL_BYTES).
    const padding = 'with enough words in it to fill the journal quickly '.repeat(8)
    await Promise.all(Array.from({ length: 600 }, (_, i) => conversation.send(`padding message number ${i} ${padding}`)))
    const conversationId = conversation.id
    await closeClient(first)
    expect(await storedKinds(dir)).toEqual(expect.arrayContaining(['meta', 'shard']))

    const second = await levelClient(dir, 'alice', { segmentSize: 10 })
    expect((await second.searchStats())).toMatchObject({ documents: 635, loadedAtStart: 635, eventsIndexed: 0 })
    expect((await second.search('quarterly')).map(r => r.conversation)).toEqual([conversationId])
    // Opening the conversation loads its newest segments from storage: their heads are indexed already.
    await second.conversation(conversationId)
    expect((await second.searchStats()).eventsIndexed).toBe(0)
    await (await second.conversation(conversationId)).send('one more quarterly thing')
    expect((await second.searchStats()).eventsIndexed).toBe(1)
    expect((await second.search('quarterly')).map(r => r.text)).toEqual(['one more quarterly thing', 'the quarterly report is ready'])
  }, 60_000)

  it('finds an edited message by its new text only, and a deleted one not at all, also after a restart', async () => {
    const dir = await tempDir()
    const client = await levelClient(dir)
    const conversation = await client.createConversation()
    const edited = await conversation.send('meet at the lighthouse')
    const deleted = await conversation.send('my password is swordfish')
    await conversation.edit(edited, 'meet at the pier')
    await conversation.delete(deleted)
    expect((await client.search('lighthouse'))).toEqual([])
    expect((await client.search('pier')).map(r => [r.id, r.text])).toEqual([[edited, 'meet at the pier']])
    expect((await client.search('swordfish'))).toEqual([])
    await closeClient(client)

    const again = await levelClient(dir)
    expect((await again.search('lighthouse'))).toEqual([])
    expect((await again.search('swordfish'))).toEqual([])
    expect((await again.search('pier')).map(r => r.id)).toEqual([edited])
    expect((await again.searchStats()).documents).toBe(1)
  })

  it('filters by conversation, author and time, and refuses bad options with a clear error', async () => {
    const client = await levelClient(await tempDir())
    const work = await client.createConversation({ title: 'work' })
    const home = await client.createConversation({ title: 'home' })
    const early = await work.send('budget draft one')
    const later = await home.send('budget for groceries')
    const last = await work.send('budget final')
    const found = await client.search('budget')
    const at = (id: string) => found.find(r => r.id === id)!.at

    const ids = async (options: Parameters<ParleyClient['search']>[1]) => (await client.search('budget', options)).map(r => r.id).sort()
    expect(await ids({})).toEqual([early, later, last].sort())
    expect(await ids({ conversation: work.id })).toEqual([early, last].sort())
    expect(await ids({ author: 'alice', conversation: home.id })).toEqual([later])
    expect(await ids({ author: 'bob' })).toEqual([])
    expect(await ids({ before: at(later) })).toEqual([early])
    expect(await ids({ after: at(later) })).toEqual([last])
    expect(await ids({ after: new Date(at(early)), before: new Date(at(last)) })).toEqual([later])
    expect((await client.search('budget', { limit: 1 }))).toHaveLength(1)

    for (const bad of [{ before: Number.NaN }, { limit: 0 }, { author: '' }, { colour: 'red' }] as never[]) {
      await expect(client.search('budget', bad)).rejects.toMatchObject({ code: 'PARLEY_ERR_INVALID_OPTION' })
    }
    let error: unknown
    try {
      await client.search('x'.repeat(1001))
    } catch (caught) {
      error = caught
    }
    expect(isParleyError(error, 'PARLEY_ERR_INVALID_OPTION')).toBe(true)
  })

  it('indexes messages that arrive by sync, in a conversation this session never opened by hand', async () => {
    server = await startTestServer()
    const aliceDir = await tempDir()
    const alice = await levelClient(aliceDir, 'alice', { server: server.url, token: await server.token('alice') })
    const bob = await createClient({ server: server.url, token: await server.token('bob'), storage: { kind: 'memory' } })
    clients.push(bob)
    const conversation = await alice.createConversation({ members: ['bob'] })
    await conversation.send('hello bob')
    await alice.sync()
    await closeClient(alice)

    await bob.sync()
    const id = await (await bob.conversation(conversation.id)).send('the tide tables are attached')
    await bob.sync()

    const back = await levelClient(aliceDir, 'alice', { server: server.url, token: await server.token('alice') })
    expect((await back.search('tide'))).toEqual([])
    await back.sync() // the inbox lists the conversation; its new change arrives and is indexed
    expect((await back.search('tide')).map(r => [r.id, r.author, r.conversation])).toEqual([[id, 'bob', conversation.id]])
    expect((await back.searchStats()).eventsIndexed).toBe(1)
  }, 60_000)

  it('parses a message that arrives by sync once, for the timeline and the index together', async () => {
    server = await startTestServer({ relayCore: true })
    const connect = async (user: string) => {
      const client = await createClient({ server: server!.url, token: await server!.token(user), storage: { kind: 'memory' } })
      clients.push(client)
      return client
    }
    const alice = await connect('alice')
    const bob = await connect('bob')
    const sent = await alice.createConversation({ members: ['bob'] })
    await sent.send('warm-up')
    await alice.sync()
    const received = await bob.conversation(sent.id)
    await vi.waitFor(() => expect(received.timeline()).toHaveLength(1), { timeout: 10_000 })

    // The server runs in this process and reads the event too: count the client library's parses only.
    const parse = JSON.parse
    let clientParses = 0
    const spy = vi.spyOn(JSON, 'parse').mockImplementation((text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
      if (text.includes('lighthouse') && new Error().stack!.includes('/clients/sdk/src/')) clientParses++
      return parse(text, reviver)
    })
    try {
      await sent.send('the lighthouse keeper waves')
      await vi.waitFor(() => expect(received.timeline()).toHaveLength(2), { timeout: 10_000 })
      expect((await bob.search('lighthouse')).map(result => result.text)).toEqual(['the lighthouse keeper waves'])
    } finally {
      spy.mockRestore()
    }
    expect(clientParses).toBe(1)
  }, 60_000)
})
