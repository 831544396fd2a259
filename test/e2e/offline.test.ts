import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClientPool, onStatus } from '../support/clients.ts'
import { ServerProcess } from '../support/server-process.ts'

describe('writing while the server is down', () => {
  let server: ServerProcess
  const pool = new ClientPool()
  beforeAll(async () => (server = await ServerProcess.start()))
  afterAll(async () => {
    await pool.closeAll()
    await server?.stop()
  })

  it('merges both sides after a SIGKILL and restart: identical, nothing lost or doubled, each device in order', async () => {
    const alice = await pool.connect(server, 'alice')
    const bob = await pool.connect(server, 'bob')
    const alices = await alice.createConversation({ members: ['bob'] })
    await alices.send('before the outage')
    await alice.sync()
    const bobs = await bob.conversation(alices.id)

    await server.kill('SIGKILL')
    await Promise.all([onStatus(alice, 'offline'), onStatus(bob, 'offline')])
    const aliceTexts: string[] = []
    const bobTexts: string[] = []
    for (let i = 0; i < 15; i++) {
      aliceTexts.push(`alice ${i}`)
      bobTexts.push(`bob ${i}`)
      await alices.send(`alice ${i}`)
      await bobs.send(`bob ${i}`)
    }
    // Offline, each sees only its own writes.
    expect(alices.timeline()).toHaveLength(16)
    expect(bobs.timeline()).toHaveLength(16)

    await server.restart()
    await alice.sync({ timeout: 20_000 })
    await bob.sync({ timeout: 20_000 })
    await alice.sync({ timeout: 20_000 })

    const timeline = alices.timeline()
    expect(bobs.timeline()).toEqual(timeline)
    expect(timeline).toHaveLength(31)
    expect(new Set(timeline.map(item => item.id)).size).toBe(31)
    expect(timeline.filter(item => item.author === 'alice').map(item => item.text)).toEqual(['before the outage', ...aliceTexts])
    expect(timeline.filter(item => item.author === 'bob').map(item => item.text)).toEqual(bobTexts)
  })
})
