/**
 * Malformed HTTP against the sync server while alice and bob keep chatting on it:
 * garbage over raw TCP, oversized headers, bodies nobody asked for, and WebSocket
 * upgrades without a valid token or to the wrong path. After each, the server still
 * answers /healthz and the legit users still reach each other.
 *
 * Parley's own answers (the /sync upgrade) are `{error:{code,message}}`; answers that
 * fastify or ws give before Parley's code runs have their own shapes, asserted as they are.
 */
import fc from 'fast-check'
import { SignJWT } from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from '@parley/sync-server/testing'
import { RawClient } from '@parley/sync-server/testing'
import { LegitChat } from './legit-chat.ts'
import { httpRequest, rawRequest, upgradeRequest, type RawResponse } from './raw-http.ts'
import { health } from './run-cases.ts'

const SEED = Number(process.env.HOSTILE_SEED ?? 20_251_127)

function json(response: RawResponse): unknown {
  try {
    return JSON.parse(response.body)
  } catch {
    throw new Error(`expected a JSON body, got ${JSON.stringify(response.body.slice(0, 200))}`)
  }
}

/** Parley's error shape, from its own code. */
function expectParleyError(response: RawResponse, status: number, code: string): void {
  expect(response.status).toBe(status)
  expect(response.headers['content-type']).toMatch(/^application\/json/)
  expect(json(response)).toEqual({ error: { code, message: expect.any(String) } })
}

/** Errors fastify and node's parser raise (unknown route, bad body, bad request) answer in Parley's shape too. */
function expectHttpError(response: RawResponse, status: number): void {
  expectParleyError(response, status, status === 404 ? 'PARLEY_ERR_NOT_FOUND' : status === 413 ? 'PARLEY_ERR_TOO_LARGE' : 'PARLEY_ERR_BAD_REQUEST')
}

const sign = (secret: string, build: (jwt: SignJWT) => SignJWT) => build(new SignJWT({}).setProtectedHeader({ alg: 'HS256' })).sign(new TextEncoder().encode(secret))
const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

describe(`hostile HTTP (seed ${SEED})`, () => {
  let server: TestServer
  let port: number
  let chat: LegitChat

  beforeAll(async () => {
    server = await startTestServer({ maxFrameBytes: 64 * 1024 })
    port = Number(new URL(server.httpUrl).port)
    chat = await LegitChat.start(server)
  })
  afterEach(async () => {
    expect((await health(server.httpUrl)).status).toBe(200)
    await chat.roundTrip()
  })
  afterAll(async () => {
    await chat?.close()
    await server?.close()
  })

  it('answers random bytes with 400 and hangs up', async () => {
    // A leading capital could start a valid method and leave the parser waiting for more.
    const garbage = fc.uint8Array({ minLength: 1, maxLength: 2_048 }).filter(bytes => !(bytes[0]! >= 0x41 && bytes[0]! <= 0x5a))
    const requests = fc.sample(garbage, { seed: SEED, numRuns: 40 }).map(bytes => Buffer.concat([bytes, Buffer.from('\r\n\r\n')]))
    for (let i = 0; i < requests.length; i += 8) {
      const answers = await Promise.all(requests.slice(i, i + 8).map(request => rawRequest(port, request)))
      for (const answer of answers) {
        expectHttpError(answer, 400)
        expect(answer.closedByServer).toBe(true)
      }
    }
  })

  it.each([
    ['a bare HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ['a request line with a control character', 'GET /\x01 HTTP/1.1\r\n\r\n'],
    ['both Content-Length and Transfer-Encoding', httpRequest('POST', '/healthz', ['Transfer-Encoding: chunked', 'Content-Length: 4'], '0\r\n\r\n')],
    ['a broken chunked body', httpRequest('POST', '/healthz', ['Transfer-Encoding: chunked', 'Content-Type: application/json'], 'zz\r\nxx\r\n0\r\n\r\n')],
  ])('answers %s with 400', async (_, request) => {
    const answer = await rawRequest(port, request)
    expectHttpError(answer, 400)
    expect(answer.closedByServer).toBe(true)
  })

  it.each([
    ['a 20 KB header', httpRequest('GET', '/healthz', [`X-Big: ${'a'.repeat(20_000)}`])],
    ['a 20 KB URL', httpRequest('GET', `/healthz?${'a'.repeat(20_000)}`)],
    ['a 20 KB token in an upgrade', upgradeRequest(`/sync?token=${'a'.repeat(20_000)}`)],
    ['2,000 headers', httpRequest('GET', '/healthz', Array.from({ length: 2_000 }, (_, i) => `X-H${i}: ${i}`))],
  ])('answers %s with 431', async (_, request) => {
    const answer = await rawRequest(port, request)
    expectHttpError(answer, 431)
    expect(answer.closedByServer).toBe(true)
  })

  it.each([
    ['POST /healthz', 'application/json', '{bad', 400],
    ['POST /nowhere', 'application/json', '{"unterminated', 400],
    ['POST /healthz', 'application/xml', '<a/>', 404],
    ['POST /nowhere', 'text/plain', 'hello', 404],
    ['POST /healthz', 'multipart/form-data; boundary=x', '--x--', 404],
    ['PUT /nowhere', 'application/octet-stream', '\u0000\u0001', 404],
    ['GET /nowhere', 'application/json', '{bad', 404],
    ['DELETE /healthz', 'no/such-type', 'x', 404],
  ])('answers %s with an invalid %s body with %i', async (route, contentType, body, status) => {
    const [method, path] = route.split(' ') as [string, string]
    expectHttpError(await rawRequest(port, httpRequest(method, path, [`Content-Type: ${contentType}`], body)), status)
  })

  it('ignores a body sent with GET /healthz (invalid JSON included) and answers it', async () => {
    const answer = await rawRequest(port, httpRequest('GET', '/healthz', ['Content-Type: application/json'], '{bad'))
    expect(answer.status).toBe(200)
    expect(json(answer)).toMatchObject({ status: 'ok' })
  })

  it('answers a plain GET /sync (no upgrade) with 404', async () => {
    // fastify's 404: /sync is only served as an upgrade. (426 Upgrade Required would say more.)
    expectHttpError(await rawRequest(port, httpRequest('GET', '/sync')), 404)
  })

  const UNAUTHENTICATED: [string, (server: TestServer) => Promise<Record<string, string | undefined> | string>][] = [
    ['no token', async () => '/sync'],
    ['an empty token', async () => '/sync?token='],
    ['a garbage token', async () => '/sync?token=garbage'],
    ['a garbage bearer header', async () => ({ Authorization: 'Bearer not.a.jwt' })],
    ['a Basic authorization header', async () => ({ Authorization: 'Basic YWxpY2U6c2VjcmV0' })],
    ['an expired token', s => sign(s.secret, jwt => jwt.setSubject('alice').setExpirationTime(Math.floor(Date.now() / 1000) - 60)).then(t => `/sync?token=${t}`)],
    ['a token signed with another secret', async () => `/sync?token=${await sign('another-secret-of-enough-length', jwt => jwt.setSubject('alice').setExpirationTime('1h'))}`],
    ['a token without sub', s => sign(s.secret, jwt => jwt.setExpirationTime('1h')).then(t => `/sync?token=${t}`)],
    ['an unsigned (alg none) token', async () => `/sync?token=${base64url({ alg: 'none' })}.${base64url({ sub: 'alice' })}.`],
  ]
  it.each(UNAUTHENTICATED)('refuses a /sync upgrade with %s: HTTP 401', async (_, make) => {
    const made = await make(server)
    const request = typeof made === 'string' ? upgradeRequest(made) : upgradeRequest('/sync', made)
    const answer = await rawRequest(port, request)
    expectParleyError(answer, 401, 'PARLEY_ERR_UNAUTHENTICATED')
    expect(answer.closedByServer).toBe(true)
  })

  it.each(['/', '/healthz', '/sync/extra', '/SYNC', '/nowhere?token=x'])('refuses an upgrade to %s: HTTP 404', async path => {
    const token = await server.token('alice')
    const answer = await rawRequest(port, upgradeRequest(`${path}${path.includes('?') ? '&' : '?'}token=${token}`))
    expectParleyError(answer, 404, 'PARLEY_ERR_NOT_FOUND')
    expect(answer.closedByServer).toBe(true)
  })

  it('refuses one connection more than maxConnectionsPerUser with HTTP 429', async () => {
    const limit = server.server.options.maxConnectionsPerUser
    const crowd = await Promise.all(Array.from({ length: limit }, () => RawClient.open(server, 'crowd')))
    try {
      const answer = await rawRequest(port, upgradeRequest(`/sync?token=${await server.token('crowd')}`))
      expectParleyError(answer, 429, 'PARLEY_ERR_TOO_MANY_CONNECTIONS')
      expect(answer.closedByServer).toBe(true)
    } finally {
      for (const client of crowd) client.terminate()
    }
  })

  it.each([
    ['without Sec-WebSocket-Key', { 'Sec-WebSocket-Key': undefined }, 'GET', 400],
    ['with an unknown WebSocket version', { 'Sec-WebSocket-Version': '99' }, 'GET', 400],
    ['to another protocol than websocket', { Upgrade: 'h2c' }, 'GET', 400],
    ['with POST', {}, 'POST', 405],
  ] as const)('refuses a valid-token upgrade %s (ws answers %i)', async (_, headers, method, status) => {
    const answer = await rawRequest(port, upgradeRequest(`/sync?token=${await server.token('alice')}`, headers, method))
    // ws's own plain-text answer: the handshake fails before Parley sees a socket.
    expect(answer.status).toBe(status)
    expect(answer.closedByServer).toBe(true)
  })

  it('refuses every membership change over HTTP that the sync rules refuse: no admin ousts an owner or changes a role (issue 13, item 4)', async () => {
    const api = async (user: string, method: string, path: string, body?: object) => {
      const response = await fetch(`${server.httpUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${await server.token(user)}`, ...(body && { 'content-type': 'application/json' }) },
        ...(body && { body: JSON.stringify(body) }),
      })
      return { status: response.status, body: (await response.json()) as { error?: { code: string }; members?: { userId: string; role: string }[] } }
    }
    const created = await api('h-owner', 'POST', '/v1/conversations', { members: ['h-admin', 'h-admin2', 'h-member', 'h-member2'] })
    const id = (created.body as { id: string }).id
    for (const admin of ['h-admin', 'h-admin2']) expect((await api('h-owner', 'POST', `/v1/conversations/${id}/members`, { userId: admin, role: 'admin' })).status).toBe(201)
    const before = (await api('h-owner', 'GET', `/v1/conversations/${id}`)).body.members
    const ROLE = { 'h-owner': 'owner', 'h-admin': 'admin', 'h-admin2': 'admin', 'h-member': 'member', 'h-member2': 'member' } as const
    const attempt = fc.record({
      actor: fc.constantFrom('h-admin' as const, 'h-member' as const),
      target: fc.constantFrom(...(Object.keys(ROLE) as (keyof typeof ROLE)[])),
      change: fc.oneof(fc.constantFrom('owner', 'admin', 'member').map(role => ({ role })), fc.constant('remove' as const)),
    })
    // Only what the rules refuse (docs/security.md): a refused change leaves nothing to undo.
    const refused = fc.sample(attempt, { seed: SEED, numRuns: 200 }).filter(({ actor, target, change }) =>
      change === 'remove' ? target !== actor && (ROLE[actor] === 'member' || ROLE[target] === 'owner') : true, // every target is a member already: adding them is a role change
    )
    expect(refused.length).toBeGreaterThan(20)
    for (const { actor, target, change } of refused.slice(0, 40)) {
      const answer =
        change === 'remove'
          ? await api(actor, 'DELETE', `/v1/conversations/${id}/members/${target}`)
          : await api(actor, 'POST', `/v1/conversations/${id}/members`, { userId: target, role: change.role })
      expect({ actor, target, change, status: answer.status, code: answer.body.error?.code }).toEqual({ actor, target, change, status: 403, code: 'PARLEY_ERR_FORBIDDEN' })
    }
    expect((await api('h-owner', 'GET', `/v1/conversations/${id}`)).body.members).toEqual(before)
  })

  it('delivered every legit message both ways', async () => {
    await chat.expectAllDelivered()
    expect(chat.statusChanges).toEqual([])
  })
})
