import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { startTestServer, type TestServer } from '../src/testing.ts'

/** The HTTP answer to an upgrade attempt, over a real socket. */
function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers })
    socket.on('unexpected-response', (_request, response) => {
      let body = ''
      response.on('data', chunk => (body += chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }))
    })
    socket.on('open', () => {
      socket.close()
      resolve({ status: 101, body: '' })
    })
    socket.on('error', error => (error.message.includes('Unexpected server response') ? undefined : reject(error)))
  })
}

describe('HTTP face of the sync server', () => {
  let server: TestServer
  beforeAll(async () => (server = await startTestServer()))
  afterAll(() => server.close())

  it('answers /healthz', async () => {
    const response = await server.server.app.inject({ method: 'GET', url: '/healthz' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ status: 'ok' })
  })

  it('answers /healthz over a real socket', async () => {
    const response = await fetch(`${server.httpUrl}/healthz`)
    expect(await response.json()).toMatchObject({ status: 'ok' })
  })

  it('refuses an upgrade without a token with 401 before upgrading', async () => {
    const { status, body } = await upgradeStatus(server.url)
    expect(status).toBe(401)
    expect(JSON.parse(body)).toMatchObject({ error: { code: 'PARLEY_ERR_UNAUTHENTICATED' } })
  })

  it('refuses a bad, a foreign and an expired token', async () => {
    const foreign = (await server.token('alice')).replace(/\.[^.]+$/, '.c2lnbmF0dXJl')
    expect((await upgradeStatus(`${server.url}?token=not-a-jwt`)).status).toBe(401)
    expect((await upgradeStatus(`${server.url}?token=${foreign}`)).status).toBe(401)
    expect((await upgradeStatus(`${server.url}?token=${await server.token('alice', '0s')}`)).status).toBe(401)
  })

  it('upgrades with a valid token, in the query or as a bearer header', async () => {
    expect((await upgradeStatus(`${server.url}?token=${await server.token('alice')}`)).status).toBe(101)
    expect((await upgradeStatus(server.url, { authorization: `Bearer ${await server.token('alice')}` })).status).toBe(101)
  })

  it('has no WebSocket endpoint but /sync', async () => {
    expect((await upgradeStatus(`${server.httpUrl.replace('http', 'ws')}/other?token=${await server.token('alice')}`)).status).toBe(404)
  })
})
