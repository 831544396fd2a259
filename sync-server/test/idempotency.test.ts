/**
 * Idempotency keys cannot be squatted: another member who writes an event, over sync,
 * under the ID a caller's key would give must not make that caller's publish answer 201
 * with their event while her text is never stored. A retry only ever returns the caller's
 * own earlier message.
 */
import type { DocHandle } from '@automerge/automerge-repo'
import { appendEvent, derivedBytes, type SegmentDoc } from '@parley/core'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveServerOptions } from '../src/config.ts'
import { idempotentEventId } from '../src/conversations/idempotency.ts'
import { startTestServer, type TestServer } from '../src/testing.ts'
import { findWhenSynced, stockRepo, type StockClient } from './helpers.ts'

describe('idempotency keys', () => {
  let server: TestServer
  const clients: StockClient[] = []
  beforeAll(async () => (server = await startTestServer()))
  afterAll(async () => {
    for (const client of clients) client.close()
    await server.close()
  })

  async function call(user: string, method: 'GET' | 'POST', url: string, body?: object) {
    const response = await server.server.app.inject({ method, url, headers: { authorization: `Bearer ${await server.token(user)}` }, ...(body && { payload: body }) })
    return { status: response.statusCode, body: response.json() as Record<string, any> }
  }

  /** Alice's conversation with Bob, and Bob's replica of its segment. */
  async function conversation(): Promise<{ id: string; bobSegment: DocHandle<SegmentDoc> }> {
    const created = await call('alice', 'POST', '/v1/conversations', { kind: 'group', title: 'deploys', members: ['bob'] })
    expect(created.status).toBe(201)
    const bob = await stockRepo(server, 'bob')
    clients.push(bob)
    return { id: created.body.id, bobSegment: await findWhenSynced<SegmentDoc>(bob, created.body.segments[0]) }
  }

  /** Bob appends, over sync, a message under `eventId`; resolves once the server has numbered it. */
  async function squat(id: string, bobSegment: DocHandle<SegmentDoc>, eventId: string): Promise<void> {
    bobSegment.change(doc => appendEvent(doc, { id: eventId, type: 'message', author: 'bob', device: 'bob-device', at: Date.now(), text: 'squatted' }))
    for (let after = 0; ; ) {
      const page = await call('alice', 'GET', `/v1/conversations/${id}/events?after=${after}&wait=10`)
      if (page.body.events.some((event: { id: string }) => event.id === eventId)) return
      after = page.body.next
    }
  }

  const texts = async (id: string): Promise<string[]> => (await call('alice', 'GET', `/v1/conversations/${id}/events?after=0`)).body.events.map((event: { text: string }) => event.text)

  it('does not answer a publish with the event another member wrote under the ID an unkeyed hash of the key would give', async () => {
    const { id, bobSegment } = await conversation()
    // What anyone could compute from public inputs: the caller, the conversation and the key.
    const bytes = derivedBytes('parley/idempotency', `alice\0${id}\0deploy-1`)
    await squat(id, bobSegment, `idem-${Buffer.from(bytes).toString('base64url')}`)
    const published = await call('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'Deploy at 5', idempotencyKey: 'deploy-1' })
    expect(published.status).toBe(201)
    const stored = (await call('alice', 'GET', `/v1/conversations/${id}/events?after=${published.body.seq - 1}&limit=1`)).body.events[0]
    expect(stored).toMatchObject({ id: published.body.eventId, author: 'alice', text: 'Deploy at 5' })
    expect(await texts(id)).toEqual(['squatted', 'Deploy at 5'])
  })

  it('refuses, rather than return, someone else’s event stored under the key’s ID (a leaked secret)', async () => {
    const { id, bobSegment } = await conversation()
    const secret = (await readFile(join(server.dataDir, 'idempotency-secret'), 'utf8')).trim()
    await squat(id, bobSegment, idempotentEventId(secret, 'alice', id, 'deploy-2'))
    const published = await call('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'Deploy at 6', idempotencyKey: 'deploy-2' })
    expect(published).toEqual({ status: 403, body: { error: { code: 'PARLEY_ERR_FORBIDDEN', message: expect.stringMatching(/not your message/) } } })
  })

  it('returns the caller’s own earlier message to a retry, and refuses the same key with another text', async () => {
    const { id } = await conversation()
    const first = await call('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'Deploy at 7', idempotencyKey: 'deploy-3' })
    expect(first.status).toBe(201)
    expect(await call('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'Deploy at 7', idempotencyKey: 'deploy-3' })).toEqual(first)
    const changed = await call('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'Deploy at 8', idempotencyKey: 'deploy-3' })
    expect(changed).toEqual({ status: 400, body: { error: { code: 'PARLEY_ERR_BAD_REQUEST', message: expect.stringMatching(/different message/) } } })
    // Bob's key is his own: the same key from him is another message.
    const bobs = await call('bob', 'POST', `/v1/conversations/${id}/messages`, { text: 'Deploy at 7', idempotencyKey: 'deploy-3' })
    expect(bobs.status).toBe(201)
    expect(bobs.body.eventId).not.toBe(first.body.eventId)
    expect(await texts(id)).toEqual(['Deploy at 7', 'Deploy at 7'])
  })

  it('keys IDs with the configured idempotencySecret, so every node of a cluster derives the same (and refuses a short one)', async () => {
    const shared = 'one-secret-for-every-node'
    const node = await startTestServer({ idempotencySecret: shared })
    try {
      const created = await node.server.app.inject({ method: 'POST', url: '/v1/conversations', headers: { authorization: `Bearer ${await node.token('alice')}` }, payload: { members: [] } })
      const id = created.json().id as string
      const published = await node.server.app.inject({
        method: 'POST',
        url: `/v1/conversations/${id}/messages`,
        headers: { authorization: `Bearer ${await node.token('alice')}` },
        payload: { text: 'from node 1', idempotencyKey: 'k' },
      })
      expect(published.json().eventId).toBe(idempotentEventId(shared, 'alice', id, 'k'))
    } finally {
      await node.close()
    }
    expect(() => resolveServerOptions({ idempotencySecret: 'short' })).toThrow(expect.objectContaining({ code: 'PARLEY_ERR_INVALID_OPTION' }))
  })
})
