/** HTTP errors say what to fix: a schema failure names the field it is about. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mintToken } from '../src/auth/tokens.ts'
import { startTestServer, type TestServer } from '../src/testing.ts'

describe('HTTP schema errors', () => {
  let server: TestServer
  beforeAll(async () => (server = await startTestServer()))
  afterAll(() => server.close())

  async function post(url: string, body: object) {
    const response = await server.server.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${await server.token('alice')}` }, payload: body })
    return { status: response.statusCode, body: response.json() as { error: { code: string; message: string } } }
  }

  it('names an unknown body field', async () => {
    expect(await post('/v1/conversations', { members: ['bob'], colour: 'red' })).toEqual({
      status: 400,
      body: { error: { code: 'PARLEY_ERR_BAD_REQUEST', message: 'body has an unknown field "colour"' } },
    })
  })

  it('names an unknown query parameter, and keeps Ajv’s own words where they name the field', async () => {
    const id = (await post('/v1/conversations', { members: ['bob'] })).body as unknown as { id: string }
    const query = await server.server.app.inject({ method: 'GET', url: `/v1/conversations/${id.id}/events?colour=red`, headers: { authorization: `Bearer ${await server.token('alice')}` } })
    expect(query.json()).toEqual({ error: { code: 'PARLEY_ERR_BAD_REQUEST', message: 'querystring has an unknown field "colour"' } })
    expect((await post(`/v1/conversations/${id.id}/messages`, {})).body.error).toEqual({ code: 'PARLEY_ERR_BAD_REQUEST', message: "body must have required property 'text'" })
  })

  it('answers the admin webhook routes with 404 when the server has no --webhook-url (as docs/http.md says)', async () => {
    const admin = await mintToken(server.secret, 'ops', { admin: true })
    const response = await server.server.app.inject({ method: 'GET', url: '/v1/admin/webhooks', headers: { authorization: `Bearer ${admin}` } })
    expect({ status: response.statusCode, body: response.json() }).toEqual({ status: 404, body: { error: { code: 'PARLEY_ERR_NOT_FOUND', message: 'no route GET /v1/admin/webhooks' } } })
  })
})
