import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { next as Automerge } from '@automerge/automerge'
import { MemoryStorageAdapter, readHead, readSegmentEvents, setReadCursor, type HeadDoc, type SegmentDoc } from '@parley/core'
import { createClient, type ParleyClient } from '../src/index.ts'
import { testToken } from './helpers.ts'

const clients: ParleyClient[] = []
const dirs: string[] = []
afterEach(async () => {
  vi.useRealTimers()
  await Promise.all(clients.splice(0).map(client => client.close()))
  await Promise.all(dirs.splice(0).map(dir => rm(dir, { recursive: true, force: true })))
})

async function offlineClient(options: { segmentSize?: number; pageSize?: number; dir?: string; adapter?: MemoryStorageAdapter; readCursorIntervalMs?: number } = {}) {
  const client = await createClient({
    token: testToken('alice'),
    storage: options.dir ? { kind: 'level', dir: options.dir } : options.adapter ? { kind: 'custom', adapter: options.adapter } : { kind: 'memory' },
    segmentSize: options.segmentSize,
    pageSize: options.pageSize,
    readCursorIntervalMs: options.readCursorIntervalMs,
  })
  clients.push(client)
  return client
}

/** Closes a client within its test (afterEach closes the rest). */
async function closeNow(client: ParleyClient): Promise<void> {
  await client.close()
  clients.splice(clients.indexOf(client), 1)
}

/** A document as a client stored it (automerge-repo's layout: snapshots and incremental changes under its ID). */
async function stored<T>(adapter: MemoryStorageAdapter, id: string): Promise<Automerge.Doc<T>> {
  let doc = Automerge.init<T>()
  for (const { key, data } of await adapter.loadRange([id])) if (data && (key[1] === 'snapshot' || key[1] === 'incremental')) doc = Automerge.loadIncremental(doc, data)
  return doc
}

describe('a conversation on an offline client', () => {
  it('sends, edits, deletes, reacts and projects the timeline', async () => {
    const client = await offlineClient()
    const conversation = await client.createConversation({ title: 'plans', members: ['bob'] })
    const first = await conversation.send('hello')
    const second = await conversation.send('typo')
    await conversation.edit(second, 'fixed')
    await conversation.react(first, '👍')
    const third = await conversation.send('oops')
    await conversation.delete(third)
    expect(conversation.timeline()).toEqual([
      { id: first, author: 'alice', text: 'hello', at: expect.any(Number), reactions: { '👍': ['alice'] } },
      { id: second, author: 'alice', text: 'fixed', at: expect.any(Number), edited: true, reactions: {} },
      { id: third, author: 'alice', text: '', at: expect.any(Number), deleted: true, reactions: {} },
    ])
    await conversation.react(first, '👍', { remove: true })
    expect(conversation.timeline()[0]!.reactions).toEqual({})
    expect(conversation.head()).toMatchObject({ kind: 'group', title: 'plans', createdBy: 'alice' })
    expect(Object.keys(conversation.head().members).sort()).toEqual(['alice', 'bob'])
  })

  it('gives a message its ID through onId before the send resolves, and resolves with the same ID', async () => {
    const client = await offlineClient()
    const conversation = await client.createConversation({ title: 'ids' })
    let early: string | undefined
    const sending = conversation.send('hello', { onId: id => (early = id) })
    expect(early).toEqual(expect.any(String))
    expect(await sending).toBe(early)
  })

  it('reports the priority of its newest message, which orders the catch-up after a reconnect', async () => {
    const client = await offlineClient()
    const conversation = await client.createConversation({ members: ['bob'] })
    expect(conversation.latestPriority()).toBe('normal')
    await conversation.send('urgent', { priority: 'high' })
    expect(conversation.latestPriority()).toBe('high')
    await conversation.send('whenever', { priority: 'low' })
    expect(conversation.latestPriority()).toBe('low')
    expect(conversation.documentIds()).toEqual([conversation.id, ...conversation.head().segments])
  })

  it('keeps a device’s messages in the order it sent them', async () => {
    const conversation = await (await offlineClient()).createConversation()
    const texts = Array.from({ length: 30 }, (_, i) => `m${i}`)
    for (const text of texts) await conversation.send(text)
    expect(conversation.timeline().map(item => item.text)).toEqual(texts)
  })

  it('notifies subscribers once per change with the new timeline', async () => {
    const conversation = await (await offlineClient()).createConversation()
    const seen: string[][] = []
    const stop = conversation.subscribe(timeline => seen.push(timeline.map(item => item.text)))
    await conversation.send('a')
    await conversation.send('b')
    stop()
    await conversation.send('c')
    expect(seen).toEqual([[], ['a'], ['a', 'b']])
  })

  it('refuses invalid input before storing anything', async () => {
    const conversation = await (await offlineClient()).createConversation()
    await expect(conversation.send('x'.repeat(16 * 1024 + 1))).rejects.toMatchObject({ code: 'PARLEY_ERR_TEXT_TOO_LARGE' })
    await expect(conversation.edit('no-such-id', 'x')).rejects.toMatchObject({ code: 'PARLEY_ERR_MESSAGE_NOT_FOUND' })
    expect(conversation.timeline()).toEqual([])
  })

  it('starts a new segment when the newest is full', async () => {
    const client = await offlineClient({ segmentSize: 5, pageSize: 3 })
    const conversation = await client.createConversation()
    for (let i = 0; i < 12; i++) await conversation.send(`m${i}`)
    expect(conversation.head().segments).toHaveLength(3)
    expect(conversation.timeline().map(item => item.text)).toEqual(Array.from({ length: 12 }, (_, i) => `m${i}`))
  })

  it('fails clearly to open a conversation nobody reachable has', async () => {
    const client = await offlineClient()
    const other = await (await offlineClient()).createConversation()
    await expect(client.conversation(other.id)).rejects.toMatchObject({ code: 'PARLEY_ERR_CONVERSATION_NOT_FOUND' })
  })

  it('counts unread messages after the read cursor', async () => {
    const conversation = await (await offlineClient()).createConversation()
    const id = await conversation.send('mine')
    expect(conversation.unreadCount()).toBe(0)
    await conversation.markRead(id)
    expect(conversation.readReceipts().alice).toMatchObject({ type: 'read', target: id, author: 'alice' })
  })

  it('writes each read receipt as a read event in the newest segment, with no change to the head', async () => {
    const adapter = new MemoryStorageAdapter()
    const client = await offlineClient({ adapter })
    const conversation = await client.createConversation()
    const first = await conversation.send('one')
    const last = await conversation.send('two')
    await conversation.markRead(last)
    await closeNow(client)

    const head = await stored<HeadDoc>(adapter, conversation.id)
    expect(head.reads).toEqual({})
    const events = readSegmentEvents(await stored<SegmentDoc>(adapter, readHead(head).segments[0]!)).events
    expect(events.map(event => event.type)).toEqual(['message', 'message', 'read'])
    expect(events[2]).toMatchObject({ author: 'alice', target: last })

    const reopened = await (await offlineClient({ adapter })).conversation(conversation.id)
    expect(reopened.readReceipts().alice?.target).toBe(last)
    expect(reopened.head().reads.alice?.target).toBe(last)
    expect(reopened.unreadCount()).toBe(0)
    expect(reopened.timeline().map(item => item.id)).toEqual([first, last])
  })

  it('still counts a read cursor an earlier client wrote to the head, until a newer receipt', async () => {
    const adapter = new MemoryStorageAdapter()
    const client = await offlineClient({ adapter })
    const conversation = await client.createConversation()
    const first = await conversation.send('one')
    const last = await conversation.send('two')
    await closeNow(client)
    // Written as clients before read events did: a cursor in the head.
    const head = await stored<HeadDoc>(adapter, conversation.id)
    const moved = Automerge.change(Automerge.clone(head), doc => setReadCursor(doc, { id: 'r-old', type: 'read', author: 'alice', device: 'old', at: 1, target: first }))
    await adapter.save([conversation.id, 'incremental', 'legacy-cursor'], Automerge.saveSince(moved, Automerge.getHeads(head)))

    const reopened = await (await offlineClient({ adapter })).conversation(conversation.id)
    expect(reopened.readReceipts().alice?.target).toBe(first)
    expect(reopened.unreadCount()).toBe(0) // alice wrote both: her own messages are never unread
    await reopened.markRead(last)
    expect(reopened.readReceipts().alice?.target).toBe(last)
  })

  it('writes the first read at once, and one receipt for all the reads of the interval after it, telling subscribers of each at once', async () => {
    const adapter = new MemoryStorageAdapter()
    const client = await offlineClient({ adapter, readCursorIntervalMs: 200 })
    const conversation = await client.createConversation()
    const ids: string[] = []
    for (let i = 0; i < 6; i++) ids.push(await conversation.send(`m${i}`))
    const heard: (string | undefined)[] = []
    conversation.on('head', head => heard.push(head.reads.alice?.target))
    await conversation.markRead(ids[0])
    let notified = 0
    conversation.subscribe(() => notified++)
    const later = ids.slice(1).map(id => conversation.markRead(id))
    // Subscribers hear of each held move (an app re-reads its unread count then); 'head'
    // listeners of the receipts written.
    await Promise.resolve()
    expect(notified).toBe(2)
    expect(conversation.readReceipts().alice?.target).toBe(ids[5])
    await Promise.all(later)
    expect(heard).toEqual([ids[0], ids[5]])
    await closeNow(client)
    const head = await stored<HeadDoc>(adapter, conversation.id)
    const receipts = readSegmentEvents(await stored<SegmentDoc>(adapter, readHead(head).segments[0]!)).events.filter(event => event.type === 'read')
    expect(receipts.map(receipt => receipt.target)).toEqual([ids[0], ids[5]])
  })

  it('waits longer between receipts in a larger group (read-cursor.ts receiptInterval)', async () => {
    const adapter = new MemoryStorageAdapter()
    const client = await offlineClient({ adapter, readCursorIntervalMs: 100 })
    // 30 members: at most one receipt per 6 s from each, not per 100 ms.
    const conversation = await client.createConversation({ members: Array.from({ length: 29 }, (_, i) => `member${i}`) })
    const first = await conversation.send('one')
    const second = await conversation.send('two')
    await conversation.markRead(first)
    const segment = readHead(await stored<HeadDoc>(adapter, conversation.id)).segments[0]!
    const written = () => stored<SegmentDoc>(adapter, segment).then(doc => readSegmentEvents(doc).events.filter(event => event.type === 'read').map(event => event.target))
    // The interval's timer on a fake clock; a written receipt is read back from the segment as head news.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const heard: (string | undefined)[] = []
    conversation.on('head', head => heard.push(head.reads.alice?.target))
    const held = conversation.markRead(second)
    await vi.advanceTimersByTimeAsync(5000)
    expect(heard).toEqual([])
    expect(await written()).toEqual([first])
    await vi.advanceTimersByTimeAsync(1000)
    expect(heard).toEqual([second])
    vi.useRealTimers()
    await held
    expect(await written()).toEqual([first, second])
  })

  it('hears read receipts arriving in a segment as head news', async () => {
    const conversation = await (await offlineClient()).createConversation()
    const id = await conversation.send('one')
    const heard: (string | undefined)[] = []
    conversation.on('head', head => heard.push(head.reads.alice?.target))
    await conversation.markRead(id)
    // Once, when its event is read back from the segment, as another member's would be.
    expect(heard).toEqual([id])
  })
})

describe('a level replica', () => {
  it('survives a restart: conversations, timeline, device, clock and a read cursor still waiting at close', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-sdk-'))
    dirs.push(dir)
    const first = await offlineClient({ dir, segmentSize: 4, pageSize: 3 })
    const conversation = await first.createConversation({ title: 'kept' })
    for (let i = 0; i < 10; i++) await conversation.send(`m${i}`)
    const device = first.device
    const lastAt = conversation.timeline().at(-1)!.at
    // Read twice within the interval: the second move waits, and closing writes it.
    const lastId = conversation.timeline().at(-1)!.id
    await conversation.markRead(conversation.timeline().at(0)!.id)
    const waitingRead = conversation.markRead(lastId)
    await first.close()
    await waitingRead
    clients.splice(clients.indexOf(first), 1)

    const second = await offlineClient({ dir, segmentSize: 4, pageSize: 3 })
    expect(second.device).toBe(device)
    expect(second.conversations()).toEqual([{ id: conversation.id, kind: 'group', title: 'kept' }].map(({ id }) => expect.objectContaining({ id })))
    const reopened = await second.conversation(conversation.id)
    expect(reopened.head().reads.alice?.target).toBe(lastId)
    // The newest page: the newest segment (m8, m9) plus the one before it to reach 3 messages.
    expect(reopened.timeline().map(item => item.text)).toEqual(['m4', 'm5', 'm6', 'm7', 'm8', 'm9'])
    expect(reopened.hasOlder()).toBe(true)
    expect(await reopened.loadOlder(3)).toBe(4)
    expect(reopened.timeline()).toHaveLength(10)
    expect(reopened.hasOlder()).toBe(false)
    await reopened.send('after restart')
    expect(reopened.timeline().at(-1)).toMatchObject({ text: 'after restart' })
    expect(reopened.timeline().at(-1)!.at).toBeGreaterThan(lastAt)
  })
})

describe('what UI bindings read synchronously', () => {
  it('hands out an open conversation by ID without waiting, and nothing for one not open here', async () => {
    const client = await offlineClient()
    const conversation = await client.createConversation({ title: 'now' })
    expect(client.loadedConversation(conversation.id)).toBe(conversation)
    expect(client.loadedConversation(`automerge:${conversation.id}`)).toBe(conversation)
    expect(client.loadedConversation('4MZvx8uJ49wBs3K6HnvJN3gNiPZ5')).toBeUndefined()
    await client.close()
    expect(client.loadedConversation(conversation.id)).toBeUndefined()
  })

  it('emits the conversation list again when a title changes', async () => {
    const client = await offlineClient()
    const conversation = await client.createConversation({ title: 'before' })
    const lists: unknown[] = []
    client.on('conversations', list => lists.push(list))
    await conversation.setTitle('after')
    expect(lists.at(-1)).toEqual([{ id: conversation.id, kind: 'group', title: 'after' }])
  })
})
