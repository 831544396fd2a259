/**
 * Tokens that expire during the connection: the server closes with 4401 at expiry, the
 * client library asks its token callback for a fresh one and reconnects, and nothing
 * written meanwhile is lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClientPool, onStatus } from '../support/clients.ts'
import { ServerProcess } from '../support/server-process.ts'
import { timelineWhere } from '../support/timeline.ts'

describe('token expiry during a connection', () => {
  let server: ServerProcess
  const pool = new ClientPool()
  beforeAll(async () => (server = await ServerProcess.start()))
  afterAll(async () => {
    await pool.closeAll()
    await server?.stop()
  })

  it('reconnects with a fresh token and delivers everything written across the expiry', async () => {
    // Alice's tokens live two seconds (JWT expiry has one-second resolution).
    const alice = await pool.connect(server, 'alice', { tokenTtl: '2s' })
    const bob = await pool.connect(server, 'bob')
    const errors: unknown[] = []
    alice.on('error', error => errors.push(error))
    const conversation = await alice.createConversation({ members: ['bob'] })
    await alice.sync()
    await bob.sync()
    const bobs = await bob.conversation(conversation.id)

    let reconnects = 0
    alice.on('status', status => status === 'online' && reconnects++)
    // Keep writing until the server has expired Alice's token at least twice.
    const texts: string[] = []
    while (reconnects < 2) {
      texts.push(`message ${texts.length}`)
      await conversation.send(texts.at(-1)!)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    await onStatus(alice, 'online')
    const timeline = await timelineWhere(bobs, items => items.length === texts.length)
    expect(timeline.map(item => item.text)).toEqual(texts)
    expect(server.log).toMatch(/"code":4401,"reason":"token expired"/)
    expect(errors).toEqual([])
  })
})
