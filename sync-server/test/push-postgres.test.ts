/**
 * Web Push with --postgres: subscriptions in parley_push_subscriptions and the queue in
 * parley_push_queue (migration 5), shared by a cluster's nodes; a push decrypted by the
 * real push service of push-service.ts, a 410 deleting the row, a 500 retried.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mintToken } from '../src/auth/tokens.ts'
import { PostgresPool } from '../src/storage/postgres/index.ts'
import { createTestDatabase, startTestServer, type PostgresTestDatabase, type TestServer } from '../src/testing.ts'
import { PushService } from './push-service.ts'

describe('web push on PostgreSQL', () => {
  let database: PostgresTestDatabase
  let service: PushService
  let server: TestServer
  let pool: PostgresPool

  beforeAll(async () => {
    database = await createTestDatabase()
    service = await PushService.start()
    server = await startTestServer({ postgres: database.url, push: { agent: service.agent, allowPrivateEndpoints: true, backoff: { minMs: 5, maxMs: 20 } } })
    pool = new PostgresPool(database.url, { max: 2 })
  })
  afterAll(async () => {
    await pool?.close()
    await server?.close()
    await service?.close()
    await database?.drop()
  })

  async function call(user: string, method: 'GET' | 'POST' | 'DELETE', url: string, body?: object) {
    const response = await server.server.app.inject({ method, url, headers: { authorization: `Bearer ${await mintToken(server.secret, user)}` }, ...(body ? { payload: body } : {}) })
    return { status: response.statusCode, body: response.json() as Record<string, any> }
  }
  const rows = async (user: string): Promise<string[]> =>
    (await pool.query<{ endpoint: string }>("SELECT device->>'endpoint' AS endpoint FROM parley_push_subscriptions WHERE user_id = $1", [user])).map(row => row.endpoint).sort()

  it('keeps subscriptions in PostgreSQL, pushes through its queue, retries a 500 and deletes on 410', async () => {
    const phone = service.subscribe('bob-phone')
    const old = service.subscribe('bob-old')
    expect((await call('bob', 'POST', '/v1/push/subscriptions', old)).status).toBe(201)
    expect((await call('bob', 'POST', '/v1/push/subscriptions', phone)).status).toBe(201)
    expect(await rows('bob')).toEqual([old.endpoint, phone.endpoint].sort())
    service.answer = (device, index) => (device === 'bob-old' ? 410 : index === 0 ? 500 : 201)

    const id = (await call('alice', 'POST', '/v1/conversations', { title: 'Ops', members: ['bob'] })).body.id as string
    const sent = (await call('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'deploy done' })).body
    const [push] = await service.waitFor(1)
    // No --push-text: conversation and sender only.
    expect(push!.payload).toEqual({ v: 1, conversationId: id, title: 'Ops', sender: 'alice', seq: sent.seq, eventId: sent.eventId, at: expect.any(Number) })
    expect(push!.device).toBe('bob-phone')
    await service.waitForAnswers('bob-phone', 2)
    await service.waitForAnswers('bob-old', 1)
    while ((await rows('bob')).includes(old.endpoint)) await new Promise(resolve => setTimeout(resolve, 10))
    expect(await rows('bob')).toEqual([phone.endpoint])
    // The queue empties once delivered (deletes are batched: wait for the row to go).
    while ((await pool.query('SELECT 1 FROM parley_push_queue')).length > 0) await new Promise(resolve => setTimeout(resolve, 10))
    expect(await pool.query('SELECT 1 FROM parley_webhooks')).toEqual([])
    expect((await call('bob', 'DELETE', '/v1/push/subscriptions', { endpoint: phone.endpoint })).body).toEqual({ deleted: true })
    expect(await rows('bob')).toEqual([])
  })
})
