import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClientPool } from '../support/clients.ts'
import { ServerProcess } from '../support/server-process.ts'

describe('the server killed mid-burst', () => {
  let server: ServerProcess
  let dir: string
  const pool = new ClientPool()
  beforeAll(async () => {
    server = await ServerProcess.start()
    dir = await mkdtemp(join(tmpdir(), 'parley-e2e-client-'))
  })
  afterAll(async () => {
    await pool.closeAll()
    await server?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('restarts on the same data and a fresh client ends up with every message', async () => {
    const alice = await pool.connect(server, 'alice', { dir })
    const conversation = await alice.createConversation({ members: ['carol'] })
    await alice.sync()
    const texts = Array.from({ length: 300 }, (_, i) => `burst ${i}`)
    const kill = texts.length / 2
    for (const [i, text] of texts.entries()) {
      // Sends do not wait for the server; the kill lands while changes are in flight.
      if (i === kill) await server.kill('SIGKILL')
      await conversation.send(text)
    }
    await server.restart()
    // The client re-syncs whatever the server lost with its unflushed writes.
    await alice.sync({ timeout: 30_000 })

    const carol = await pool.connect(server, 'carol')
    await carol.sync({ timeout: 30_000 })
    const carols = await carol.conversation(conversation.id)
    while (carols.hasOlder()) await carols.loadOlder()
    expect(carols.timeline().map(item => item.text)).toEqual(texts)
  })
})
