/**
 * Webhooks wired into a real server: a message for members with no connected device is
 * POSTed, signed, to a real local receiver that fails at first; connected members and
 * the author are not listed; dead letters are visible to admins only.
 */
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mintToken } from '../src/auth/tokens.ts'
import { startTestServer, type TestServer } from '../src/testing.ts'
import { verifyWebhook } from '../src/webhooks/dispatcher.ts'
import { RawClient } from './helpers.ts'

const WEBHOOK_SECRET = 'webhook-secret-for-tests'

describe('webhooks for offline members', () => {
  let server: TestServer
  let receiver: Server
  const received: { body: Record<string, any>; verified: boolean }[] = []
  let failuresLeft = 2
  let delivered = (): void => {}
  const firstDelivery = new Promise<void>(resolve => (delivered = resolve))

  beforeAll(async () => {
    receiver = createServer((request, response) => {
      let body = ''
      request.on('data', chunk => (body += chunk))
      request.on('end', () => {
        if (failuresLeft-- > 0) return void response.writeHead(503).end()
        received.push({ body: JSON.parse(body), verified: verifyWebhook(WEBHOOK_SECRET, request.headers, body) })
        delivered()
        response.writeHead(204).end()
      })
    })
    await new Promise<void>(resolve => receiver.listen(0, '127.0.0.1', resolve))
    const { port } = receiver.address() as { port: number }
    server = await startTestServer({ webhookUrl: `http://127.0.0.1:${port}/hook`, webhookSecret: WEBHOOK_SECRET })
  })
  afterAll(async () => {
    await server.close()
    await new Promise(resolve => receiver.close(resolve))
  })

  async function call(user: string, method: 'GET' | 'POST', url: string, body?: object, admin = false) {
    const token = await mintToken(server.secret, user, { admin })
    const response = await server.server.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(body ? { payload: body } : {}) })
    return { status: response.statusCode, body: response.json() as Record<string, any> }
  }

  it('notifies the offline members of a message, retrying until the receiver accepts', async () => {
    const carol = await RawClient.open(server, 'carol')
    await carol.join('carol-online')
    const id = (await call('alice', 'POST', '/v1/conversations', { members: ['bob', 'carol'] })).body.id
    const sent = (await call('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'are you there?', priority: 'high' })).body
    await firstDelivery
    expect(received[0]).toEqual({
      verified: true,
      body: expect.objectContaining({ conversationId: id, seq: sent.seq, recipients: ['bob'], priority: 'high', attempt: 3, event: expect.objectContaining({ id: sent.eventId, text: 'are you there?', author: 'alice' }) }),
    })
    carol.socket.close()
  })

  it('shows the queue to admins only', async () => {
    expect((await call('alice', 'GET', '/v1/admin/webhooks')).status).toBe(403)
    // The receiver has answered; the dispatcher counts it a moment later.
    let stats = await call('alice', 'GET', '/v1/admin/webhooks', undefined, true)
    for (let tries = 0; stats.body.stats.delivered === 0 && tries < 250; tries++) {
      await new Promise(resolve => setTimeout(resolve, 20))
      stats = await call('alice', 'GET', '/v1/admin/webhooks', undefined, true)
    }
    expect(stats.status).toBe(200)
    expect(stats.body.stats).toMatchObject({ delivered: 1, retries: 2 })
    expect((await call('root', 'GET', '/v1/admin/webhooks/dead-letters', undefined, true)).body).toEqual({ deadLetters: [] })
  })
})
