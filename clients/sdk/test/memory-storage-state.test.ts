/**
 * Memory storage keeps the search index and the device's outbox in memory only
 * (storage.ts): no later process reads a memory adapter, so writing them cost each send an
 * outbox save and each batch a journal entry (every few hundred messages a shard
 * serialized and gzipped) for nothing (issue 15). Search still finds what was sent. A
 * custom adapter, which may outlive the client, still gets both.
 */
import { MemoryStorageAdapter } from '@parley/core'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createClient, type ParleyClient, type StorageOption } from '../src/index.ts'
import { testToken } from './helpers.ts'

const clients: ParleyClient[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.all(clients.splice(0).map(client => client.close()))
})

/** Keys saved from now on: the search index's (`parley-search`) and the outbox (`parley/outbox`). */
function spyOnStateSaves(): () => string[] {
  const save = vi.spyOn(MemoryStorageAdapter.prototype, 'save')
  return () =>
    save.mock.calls
      .map(([key]) => key.join('/'))
      .filter(key => key.startsWith('parley-search/') || key === 'parley/outbox')
}

/** Sends three messages offline and closes the client (which writes whatever it still holds). */
async function sendAndClose(storage: StorageOption): Promise<{ found: string[] }> {
  const client = await createClient({ token: testToken('alice'), storage })
  clients.push(client)
  const conversation = await client.createConversation()
  for (const text of ['harbour lights', 'low tide', 'harbour master']) await conversation.send(text)
  const found = (await client.search('harbour')).map(result => result.text)
  await client.close()
  return { found }
}

describe('memory storage: device state and search index', () => {
  it('writes neither the search index nor the outbox, and search still finds the messages', async () => {
    const saves = spyOnStateSaves()
    const { found } = await sendAndClose({ kind: 'memory' })
    expect(found.sort()).toEqual(['harbour lights', 'harbour master'])
    expect(saves()).toEqual([])
  })

  it('still writes both to a custom adapter', async () => {
    const saves = spyOnStateSaves()
    await sendAndClose({ kind: 'custom', adapter: new MemoryStorageAdapter() })
    expect(saves()).toContain('parley/outbox')
    expect(saves().some(key => key.startsWith('parley-search/journal/'))).toBe(true)
  })
})
