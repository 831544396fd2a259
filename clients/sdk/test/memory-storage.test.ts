/**
 * Memory storage keeps documents in the repo only (storage.ts): nothing reads a memory
 * adapter's document chunks back, so the repo gets no storage and a change costs no save
 * or compaction (issue 15, item 5). A custom adapter, which may outlive the client, still
 * gets every document.
 */
import { MemoryStorageAdapter } from '@parley/core'
import { startTestServer, type TestServer } from '@parley/sync-server/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createClient, type ParleyClient } from '../src/index.ts'
import { testToken } from './helpers.ts'

const clients: ParleyClient[] = []
let server: TestServer | undefined
afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.all(clients.splice(0).map(client => client.close()))
  await server?.close()
  server = undefined
})

/** Saves of automerge-repo's document records (`[documentId, 'incremental' | 'snapshot' | 'sync-state', …]`). */
function spyOnDocumentSaves(): () => string[][] {
  const save = vi.spyOn(MemoryStorageAdapter.prototype, 'save')
  return () => save.mock.calls.map(([key]) => key).filter(key => ['incremental', 'snapshot', 'sync-state'].includes(key[1]!))
}

describe('memory storage', () => {
  it('writes no document to the adapter, and messages still sync both ways over a real server', async () => {
    const saves = spyOnDocumentSaves()
    server = await startTestServer({ relayCore: true })
    const connect = async (user: string) => {
      const client = await createClient({ server: server!.url, token: await server!.token(user), storage: { kind: 'memory' } })
      clients.push(client)
      return client
    }
    const alice = await connect('alice')
    const bob = await connect('bob')
    const sent = await alice.createConversation({ members: ['bob'] })
    for (let i = 0; i < 5; i++) await sent.send(`from alice ${i}`)
    await alice.sync()
    const received = await bob.conversation(sent.id)
    await vi.waitFor(() => expect(received.timeline()).toHaveLength(5), { timeout: 10_000 })
    await received.send('from bob')
    await bob.sync()
    await vi.waitFor(() => expect(sent.timeline().map(item => item.text)).toContain('from bob'), { timeout: 10_000 })
    await Promise.all(clients.splice(0).map(client => client.close()))
    expect(saves()).toEqual([])
  }, 30_000)

  it('still writes every document to a custom adapter, from which the next client reads it', async () => {
    const saves = spyOnDocumentSaves()
    const adapter = new MemoryStorageAdapter()
    const first = await createClient({ token: testToken('alice'), storage: { kind: 'custom', adapter } })
    const conversation = await first.createConversation()
    await conversation.send('kept')
    await first.close()
    expect(saves().map(key => key[0])).toContain(conversation.id)

    const second = await createClient({ token: testToken('alice'), storage: { kind: 'custom', adapter } })
    clients.push(second)
    expect((await second.conversation(conversation.id)).timeline().map(item => item.text)).toEqual(['kept'])
  })
})
