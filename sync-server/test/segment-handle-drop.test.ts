/**
 * A new segment's first sync message carries no changes, so it reaches the repo path,
 * whose Repo keeps a handle for it that never loads (the relay core serves the segment).
 * The evictor drops such a handle after its request timeout; that must not take the
 * segment's entry out of the registry's cache, which forwarding reads (server.ts
 * `mayReceive`): with it gone, a change the hub forwarded without reading the registry
 * first (an HTTP publish here; under load, a client's change whose check was awaiting a
 * read at that moment) was dropped on its way to every other member, for good.
 */
import { createClient } from '@parley/client'
import type { DocumentId } from '@automerge/automerge-repo'
import { afterEach, expect, it } from 'vitest'
import { startTestServer, type TestServer } from '../src/testing.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

it('a member still gets new messages of a segment after the repo dropped its handle of it', async () => {
  const server: TestServer = await startTestServer()
  cleanups.push(() => server.close())
  const connect = async (user: string) => {
    const client = await createClient({ server: server.url, token: () => server.token(user), storage: { kind: 'memory' } })
    cleanups.push(() => client.close())
    return client
  }
  const alice = await connect('alice')
  const bob = await connect('bob')
  const sent = await alice.createConversation({ members: ['bob'] })
  await alice.sync()
  const received = await bob.conversation(sent.id)
  const segment = sent.head().segments[0]! as DocumentId
  const { repo } = server.server
  // The handle this is about; then wait for the evictor's request timeout to drop it.
  expect(repo.handles[segment]?.state).toBe('requesting')
  await expect.poll(() => repo.handles[segment], { timeout: 30_000, interval: 100 }).toBeUndefined()

  const response = await fetch(`${server.httpUrl}/v1/conversations/${sent.id}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await server.token('alice')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ text: 'after the drop' }),
  })
  expect(response.status).toBe(201)
  await expect.poll(() => received.timeline().map(item => item.text), { timeout: 15_000 }).toEqual(['after the drop'])
}, 90_000)
