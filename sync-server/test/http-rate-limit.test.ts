/**
 * HTTP writes draw from the same per-user budget as sync messages: a user who spends it
 * over HTTP is answered 429 PARLEY_ERR_RATE_LIMITED with Retry-After, and their WebSocket
 * upgrades are refused too; a user who spends it over sync cannot go on over HTTP.
 * (1 message per second with bursts of 20: half a bucket takes 10 s to refill, far longer
 * than these tests run.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RawClient, startTestServer, type TestServer } from '../src/testing.ts'

describe('HTTP writes share the per-user message budget', () => {
  let server: TestServer
  beforeAll(async () => (server = await startTestServer({ messagesPerSecond: 1, messageBurst: 20 })))
  afterAll(async () => server.close())

  async function call(user: string, method: 'GET' | 'POST', url: string, body?: object) {
    const response = await server.server.app.inject({ method, url, headers: { authorization: `Bearer ${await server.token(user)}` }, ...(body && { payload: body }) })
    return { status: response.statusCode, retryAfter: response.headers['retry-after'], body: response.json() as Record<string, any> }
  }

  const limited = { status: 429, retryAfter: expect.stringMatching(/^[1-9]\d*$/), body: { error: { code: 'PARLEY_ERR_RATE_LIMITED', message: expect.stringMatching(/rate limited/) } } }

  it('answers 429 with Retry-After once HTTP publishes spend the budget, then refuses the user’s sync connections as well', async () => {
    const created = await call('alice', 'POST', '/v1/conversations', { members: ['bob'] })
    expect(created.status).toBe(201)
    let published = 0
    let refused
    for (let attempt = 0; attempt < 100 && !refused; attempt++) {
      const response = await call('alice', 'POST', `/v1/conversations/${created.body.id}/messages`, { text: `m${attempt}` })
      if (response.status === 201) published++
      else refused = response
    }
    expect(refused).toEqual(limited)
    // The burst, less the conversation (plus whatever refilled meanwhile), was honoured first.
    expect(published).toBeGreaterThanOrEqual(19)
    // Reads are not writes: still answered.
    expect((await call('alice', 'GET', `/v1/conversations/${created.body.id}`)).status).toBe(200)
    // Every write route draws from it.
    expect(await call('alice', 'POST', '/v1/conversations', { members: [] })).toEqual(limited)
    expect(await call('alice', 'POST', `/v1/conversations/${created.body.id}/members`, { userId: 'carol' })).toEqual(limited)
    await expect(RawClient.open(server, 'alice')).rejects.toThrow(/HTTP 429/)
    // Another user's budget is their own.
    expect((await call('bob', 'POST', `/v1/conversations/${created.body.id}/messages`, { text: 'hi' })).status).toBe(201)
  })

  it('refuses HTTP writes from a user whose sync connection spent the budget', async () => {
    const created = await call('carol', 'POST', '/v1/conversations', { members: [] })
    expect(created.status).toBe(201)
    const client = await RawClient.open(server, 'carol')
    await client.join('carol-flood')
    for (let i = 0; i < 40; i++) client.send({ type: 'parley/heads-request', senderId: 'carol-flood', requestId: i, documentIds: [created.body.id] })
    expect(await client.closed).toMatchObject({ code: 4429 })
    expect(await call('carol', 'POST', `/v1/conversations/${created.body.id}/messages`, { text: 'more' })).toEqual(limited)
  })
})
