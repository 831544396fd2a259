/**
 * REST v1 against a real server: conversations, members, publish with idempotency,
 * history by server sequence, long polls, SSE, the OpenAPI document, and that HTTP and
 * sync number the same events.
 */
import { readSegmentEvents, type SegmentDoc } from '@parley/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from '../src/testing.ts'
import { appendMessage, findWhenSynced, stockRepo, until, type StockClient } from './helpers.ts'

describe('REST v1', () => {
  let server: TestServer
  const clients: StockClient[] = []
  beforeAll(async () => (server = await startTestServer()))
  afterAll(async () => {
    for (const client of clients) client.close()
    await server.close()
  })

  async function call(user: string, method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown) {
    const response = await server.server.app.inject({ method, url, headers: { authorization: `Bearer ${await server.token(user)}` }, ...(body === undefined ? {} : { payload: body as object }) })
    return { status: response.statusCode, body: response.json() as Record<string, any> }
  }

  async function conversation(members = ['bob']): Promise<string> {
    const created = await call('alice', 'POST', '/v1/conversations', { kind: 'group', title: 'api', members })
    expect(created.status).toBe(201)
    return created.body.id as string
  }

  it('creates a conversation, lists it in every member’s inbox, and shows its head to members only', async () => {
    const id = await conversation()
    expect((await call('alice', 'GET', `/v1/conversations/${id}`)).body).toMatchObject({ id, kind: 'group', title: 'api', createdBy: 'alice', members: [{ userId: 'alice', role: 'owner' }, { userId: 'bob', role: 'member' }] })
    expect((await call('bob', 'GET', `/v1/conversations/automerge:${id}`)).status).toBe(200)
    expect((await call('mallory', 'GET', `/v1/conversations/${id}`)).body).toEqual({ error: { code: 'PARLEY_ERR_FORBIDDEN', message: expect.any(String) } })
    expect((await call('bob', 'GET', '/v1/conversations')).body.conversations).toContainEqual({ id, addedAt: expect.any(Number) })
  })

  it('rejects unknown fields, missing fields and bad tokens with Parley errors', async () => {
    expect((await call('alice', 'POST', '/v1/conversations', { members: [], colour: 'red' })).body.error.code).toBe('PARLEY_ERR_BAD_REQUEST')
    expect((await call('alice', 'POST', '/v1/conversations', { title: 'x' })).body.error.code).toBe('PARLEY_ERR_BAD_REQUEST')
    const id = await conversation()
    expect((await call('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'x'.repeat(17 * 1024) })).status).toBe(413)
    const anonymous = await server.server.app.inject({ method: 'GET', url: '/v1/conversations' })
    expect(anonymous.statusCode).toBe(401)
    expect(anonymous.json()).toMatchObject({ error: { code: 'PARLEY_ERR_UNAUTHENTICATED' } })
  })

  it('publishes as the caller, numbers events 1, 2, 3 …, and pages forward and back', async () => {
    const id = await conversation()
    for (let i = 1; i <= 5; i++) expect((await call('bob', 'POST', `/v1/conversations/${id}/messages`, { text: `m${i}` })).body).toMatchObject({ seq: i })
    const forward = await call('alice', 'GET', `/v1/conversations/${id}/events?after=0&limit=3`)
    expect(forward.body.events.map((event: { seq: number; text: string; author: string }) => [event.seq, event.text, event.author])).toEqual([[1, 'm1', 'bob'], [2, 'm2', 'bob'], [3, 'm3', 'bob']])
    expect(forward.body.next).toBe(3)
    expect((await call('alice', 'GET', `/v1/conversations/${id}/events?after=3`)).body.events.map((event: { seq: number }) => event.seq)).toEqual([4, 5])
    const back = await call('alice', 'GET', `/v1/conversations/${id}/events?before=5&limit=2`)
    expect(back.body).toMatchObject({ events: [{ seq: 3 }, { seq: 4 }], next: 3 })
    expect((await call('mallory', 'GET', `/v1/conversations/${id}/events?after=0`)).status).toBe(403)
  })

  it('makes retries with the same idempotency key return the first event', async () => {
    const id = await conversation()
    const first = await call('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'once', idempotencyKey: 'k1' })
    const again = await call('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'once', idempotencyKey: 'k1' })
    expect(again.body).toEqual(first.body)
    expect((await call('alice', 'GET', `/v1/conversations/${id}/events?after=0`)).body.events).toHaveLength(1)
  })

  it('numbers events synced by a client and published over HTTP in one sequence, and syncs HTTP messages to clients', async () => {
    const id = await conversation()
    const head = (await call('alice', 'GET', `/v1/conversations/${id}`)).body
    const bob = await stockRepo(server, 'bob')
    clients.push(bob)
    const segment = await findWhenSynced<SegmentDoc>(bob, head.segments[0])
    await call('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'from http' })
    await until(segment, doc => readSegmentEvents(doc).events.some(event => event.type === 'message' && event.text === 'from http'))
    const synced = appendMessage(segment, 'bob', 'from sync')
    let page = await call('alice', 'GET', `/v1/conversations/${id}/events?after=1&wait=10`)
    expect(page.body.events).toEqual([expect.objectContaining({ seq: 2, id: synced.id, text: 'from sync', author: 'bob' })])
  })

  it('answers a long poll as soon as an event arrives, and empty at the deadline', async () => {
    const id = await conversation()
    const poll = call('bob', 'GET', `/v1/conversations/${id}/events?after=0&wait=30`)
    // Publish only once the poll is parked, so its answer can only come from the wake-up.
    while (!/^parley_long_polls_waiting 1$/m.test((await server.server.app.inject({ method: 'GET', url: '/metrics' })).body)) {
      await new Promise(resolve => setImmediate(resolve))
    }
    await call('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'wake up' })
    expect((await poll).body.events).toEqual([expect.objectContaining({ seq: 1, text: 'wake up' })])
    expect((await call('bob', 'GET', `/v1/conversations/${id}/events?after=1&wait=0.2`)).body).toEqual({ events: [], next: 1 })
  })

  it('streams events over SSE and resumes from Last-Event-ID', async () => {
    const id = await conversation()
    await call('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'before' })
    const token = await server.token('bob')
    const controller = new AbortController()
    const response = await fetch(`${server.httpUrl}/v1/conversations/${id}/stream?after=0`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal })
    expect(response.headers.get('content-type')).toBe('text/event-stream')
    const reader = response.body!.getReader()
    let text = ''
    const until = async (pattern: RegExp): Promise<void> => {
      while (!pattern.test(text)) text += new TextDecoder().decode((await reader.read()).value)
    }
    await until(/"text":"before"/)
    await call('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'live' })
    await until(/"text":"live"/)
    expect(text).toMatch(/id: 1\nevent: event\ndata: \{"seq":1,/)
    expect(text).toMatch(/id: 2\nevent: event\ndata: \{"seq":2,/)
    controller.abort()

    await call('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'missed' })
    const resumed = await fetch(`${server.httpUrl}/v1/conversations/${id}/stream`, { headers: { authorization: `Bearer ${token}`, 'last-event-id': '2' } })
    const again = resumed.body!.getReader()
    let more = ''
    while (!/"text":"missed"/.test(more)) more += new TextDecoder().decode((await again.read()).value)
    expect(more).not.toContain('"seq":2,')
    expect(more).toContain('id: 3\n')
    await again.cancel()
  })

  it('manages members: owners add and remove, plain members may not, removed members lose access', async () => {
    const id = await conversation()
    expect((await call('alice', 'POST', `/v1/conversations/${id}/members`, { userId: 'carol' })).status).toBe(201)
    expect((await call('carol', 'GET', `/v1/conversations/${id}`)).status).toBe(200)
    expect((await call('bob', 'POST', `/v1/conversations/${id}/members`, { userId: 'dave' })).status).toBe(403)
    expect((await call('alice', 'DELETE', `/v1/conversations/${id}/members/carol`)).status).toBe(200)
    expect((await call('carol', 'GET', `/v1/conversations/${id}`)).status).toBe(403)
    const events = (await call('alice', 'GET', `/v1/conversations/${id}/events?after=0`)).body.events.map((event: { type: string }) => event.type)
    expect(events).toEqual(['member-added', 'member-removed'])
  })

  it('serves an OpenAPI document listing every route', async () => {
    const doc = (await server.server.app.inject({ method: 'GET', url: '/v1/openapi.json' })).json() as { openapi: string; paths: Record<string, Record<string, unknown>> }
    expect(doc.openapi).toMatch(/^3\./)
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map(method => `${method.toUpperCase()} ${path}`))
    // Every route the server registers (fastify's `:param` written as OpenAPI's `{param}`).
    const registered = server.server.routes.map(route => route.replace(/:(\w+)/g, '{$1}'))
    expect(registered).toContain('POST /v1/conversations/{id}/messages')
    for (const route of registered) expect(documented).toContain(route)
  })
})
