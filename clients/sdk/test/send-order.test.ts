/**
 * A send's sync message leaves before its local save is computed (client.ts `#persist`,
 * next-turn.ts): the save computes the document's new bytes synchronously, and the
 * message waited for it (issue 15, item 5). `send` still resolves once the save is stored.
 */
import { cbor, type StorageKey } from '@automerge/automerge-repo/slim'
import { MemoryStorageAdapter } from '@parley/core'
import { startTestServer, type TestServer } from '@parley/sync-server/testing'
import WebSocket from 'isomorphic-ws'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createClient, type ParleyClient } from '../src/index.ts'

const clients: ParleyClient[] = []
let server: TestServer | undefined
afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.all(clients.splice(0).map(client => client.close()))
  await server?.close()
  server = undefined
})

describe('sending', () => {
  it('sends the sync message of a change before computing its local save, and resolves once it is saved', async () => {
    server = await startTestServer({ relayCore: true })
    const steps: string[] = []
    const storage = new MemoryStorageAdapter()
    const save = storage.save.bind(storage)
    storage.save = (key: StorageKey, data: Uint8Array) => {
      if (key[1] === 'incremental' || key[1] === 'snapshot') steps.push(`save ${key[0]}`)
      return save(key, data)
    }
    const client = await createClient({ server: server.url, token: await server.token('alice'), storage: { kind: 'custom', adapter: storage } })
    clients.push(client)
    const conversation = await client.createConversation()
    await conversation.send('warm-up')
    await client.sync()
    const segment = conversation.head().segments.at(-1)!

    const send = WebSocket.prototype.send
    vi.spyOn(WebSocket.prototype, 'send').mockImplementation(function (this: WebSocket, data: unknown, ...rest: unknown[]) {
      const message = cbor.decode(data as Uint8Array) as { type: string; documentId?: string }
      if (message.type === 'sync') steps.push(`sync ${message.documentId}`)
      return (send as (...args: unknown[]) => void).call(this, data, ...rest)
    })
    steps.length = 0
    await conversation.send('hello')
    expect(steps.slice(0, 2)).toEqual([`sync ${segment}`, `save ${segment}`])
  }, 30_000)
})
