import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClientPool } from '../support/clients.ts'
import { ServerProcess } from '../support/server-process.ts'
import { timelineWhere } from '../support/timeline.ts'

describe('two users on a real server process', () => {
  let server: ServerProcess
  const pool = new ClientPool()
  beforeAll(async () => (server = await ServerProcess.start()))
  afterAll(async () => {
    await pool.closeAll()
    await server?.stop()
  })

  it('exchange messages in real time, find the conversation through the inbox, and see typing', async () => {
    const alice = await pool.connect(server, 'alice')
    const bob = await pool.connect(server, 'bob')
    const conversation = await alice.createConversation({ title: 'lunch', members: ['bob'] })
    await conversation.send('hi bob')
    await alice.sync()

    // Bob never saw the ID: the server put the conversation into his inbox.
    await bob.sync()
    expect(bob.conversations().map(summary => summary.id)).toContain(conversation.id)
    const bobs = await bob.conversation(conversation.id)
    expect(bobs.timeline().map(item => item.text)).toEqual(['hi bob'])
    expect(bobs.head()).toMatchObject({ title: 'lunch' })

    const aliceSeesReply = timelineWhere(conversation, timeline => timeline.some(item => item.text === 'hi alice'))
    await bobs.send('hi alice')
    expect((await aliceSeesReply).map(item => [item.author, item.text])).toEqual([
      ['alice', 'hi bob'],
      ['bob', 'hi alice'],
    ])

    for (let i = 0; i < 20; i++) {
      const arrived = timelineWhere(bobs, timeline => timeline.some(item => item.text === `ping ${i}`))
      await conversation.send(`ping ${i}`)
      await arrived
    }

    const statuses: string[] = []
    alice.on('status', status => statuses.push(status))
    bob.on('status', status => statuses.push(status))
    const typing = new Promise<string[]>(resolve => conversation.on('typing', users => users.length > 0 && resolve(users)))
    bobs.setTyping(true)
    expect(await typing).toEqual(['bob'])
    // Bob's message ends his typing: he sends no "stopped" of his own.
    await bobs.send('done typing')
    await timelineWhere(conversation, timeline => timeline.some(item => item.text === 'done typing'))
    expect(conversation.typingUsers()).toEqual([])

    const reacted = timelineWhere(conversation, timeline => timeline[0]?.reactions['🎉']?.includes('bob') === true)
    await bobs.react(bobs.timeline()[0]!.id, '🎉')
    await reacted
    // Relaying typing must not cost anyone their connection.
    expect(statuses).toEqual([])
  })
  it('show a read receipt to the other member through the relay, and leave it out of the numbered events', async () => {
    const alice = await pool.connect(server, 'alice')
    const bob = await pool.connect(server, 'bob')
    const conversation = await alice.createConversation({ members: ['bob'] })
    const sent = await conversation.send('did you read this?')
    await alice.sync()
    await bob.sync()
    const bobs = await bob.conversation(conversation.id)
    expect(bobs.unreadCount()).toBe(1)

    const seen = new Promise<void>(resolve => conversation.on('head', head => head.reads.bob?.target === sent && resolve()))
    await bobs.markRead(sent)
    await seen
    expect(bobs.unreadCount()).toBe(0)

    // The server stored the receipt in the segment (a new device of bob's sees it) ...
    const bobsOtherDevice = await pool.connect(server, 'bob')
    await bobsOtherDevice.sync()
    expect((await bobsOtherDevice.conversation(conversation.id)).readReceipts().bob?.target).toBe(sent)
    // ... and numbered only the message.
    const answer = await fetch(`${server.url.replace(/^ws/, 'http')}/v1/conversations/${conversation.id}/events?after=0`, { headers: { Authorization: `Bearer ${await server.token('alice')}` } })
    const { events } = (await answer.json()) as { events: { seq: number; type: string }[] }
    expect(events.map(({ seq, type }) => [seq, type])).toEqual([[1, 'message']])
  })
})
