/**
 * The timeline is updated per event, not projected again from every loaded event (issue
 * 15, item 5): a change gives a new array in which only the items it touched are new
 * objects, arrays handed out earlier stay as they were, a change that shows nothing new
 * notifies with the same array, and an event this device appends is never parsed back.
 */
import { SEGMENT_BYTES } from '@parley/core'
import { startTestServer, type TestServer } from '@parley/sync-server/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createClient, type ParleyClient, type TimelineItem } from '../src/index.ts'
import { testToken } from './helpers.ts'

const clients: ParleyClient[] = []
let server: TestServer | undefined
afterEach(async () => {
  await Promise.all(clients.splice(0).map(client => client.close()))
  await server?.close()
  server = undefined
})

async function offlineClient(): Promise<ParleyClient> {
  const client = await createClient({ token: testToken('alice'), storage: { kind: 'memory' } })
  clients.push(client)
  return client
}

/** The items of `after` that are not (the same objects) in `before`. */
const fresh = (before: TimelineItem[], after: TimelineItem[]) => after.filter(item => !before.includes(item))

describe('timeline updates', () => {
  it('an edit or a reaction makes a new array in which only that message is a new object; earlier arrays are untouched', async () => {
    const conversation = await (await offlineClient()).createConversation()
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push(await conversation.send(`m${i}`))
    const before = conversation.timeline()
    const kept = [...before]

    await conversation.react(ids[1]!, '👍')
    const reacted = conversation.timeline()
    expect(reacted).not.toBe(before)
    expect(fresh(before, reacted).map(item => item.id)).toEqual([ids[1]])
    expect(reacted[1]!.reactions).toEqual({ '👍': ['alice'] })

    await conversation.edit(ids[3]!, 'changed')
    const edited = conversation.timeline()
    expect(fresh(reacted, edited).map(item => item.text)).toEqual(['changed'])

    const sent = await conversation.send('m5')
    expect(fresh(edited, conversation.timeline()).map(item => item.id)).toEqual([sent])
    expect(before).toEqual(kept)
    before.forEach((item, i) => expect(item).toBe(kept[i]))
  })

  it('notifies subscribers of a change that shows nothing new with the same array', async () => {
    const conversation = await (await offlineClient()).createConversation()
    await conversation.send('hello')
    const seen: TimelineItem[][] = []
    conversation.subscribe(timeline => seen.push(timeline))
    await conversation.setTitle('plans')
    await vi.waitFor(() => expect(seen.length).toBeGreaterThan(1))
    expect(seen.every(timeline => timeline === seen[0])).toBe(true)
  })

  it('does not parse back an event it appends', async () => {
    const conversation = await (await offlineClient()).createConversation()
    await conversation.send('warm-up')
    const parse = vi.spyOn(JSON, 'parse')
    try {
      for (let i = 0; i < 5; i++) await conversation.send(`m${i}`)
      expect(parse).not.toHaveBeenCalled()
    } finally {
      parse.mockRestore()
    }
    expect(conversation.timeline().map(item => item.text)).toEqual(['warm-up', 'm0', 'm1', 'm2', 'm3', 'm4'])
  })

  it('starts a new segment once the newest holds SEGMENT_BYTES of events, counted as they are appended', async () => {
    const conversation = await (await offlineClient()).createConversation()
    const text = 'x'.repeat(16_000)
    const perEvent = JSON.stringify({ id: 'x'.repeat(16), type: 'message', author: 'alice', device: 'x'.repeat(16), at: Date.now(), text }).length
    const fit = Math.ceil(SEGMENT_BYTES / perEvent)
    for (let i = 0; i < fit; i++) await conversation.send(text)
    expect(conversation.head().segments).toHaveLength(1)
    await conversation.send('next')
    expect(conversation.head().segments).toHaveLength(2)
    expect(conversation.timeline()).toHaveLength(fit + 1)
  })

  it('shows a message from another device as one new item, over a real server', async () => {
    server = await startTestServer({ relayCore: true })
    const connect = async (user: string) => {
      const client = await createClient({ server: server!.url, token: await server!.token(user), storage: { kind: 'memory' } })
      clients.push(client)
      return client
    }
    const alice = await connect('alice')
    const bob = await connect('bob')
    const sent = await alice.createConversation({ members: ['bob'] })
    const first = await sent.send('one')
    await sent.send('two')
    await alice.sync()
    const received = await bob.conversation(sent.id)
    await vi.waitFor(() => expect(received.timeline()).toHaveLength(2), { timeout: 10_000 })
    const before = received.timeline()

    const third = await sent.send('three')
    await sent.react(first, '🎉')
    await vi.waitFor(() => expect(received.timeline()[0]!.reactions).toEqual({ '🎉': ['alice'] }), { timeout: 10_000 })
    const after = received.timeline()
    expect(fresh(before, after).map(item => item.id).sort()).toEqual([first, third].sort())
    expect(after[1]).toBe(before[1])
    expect(after).toEqual(sent.timeline())
  }, 30_000)
})

