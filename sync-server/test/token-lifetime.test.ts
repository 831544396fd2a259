/**
 * The server's maximum token lifetime (`maxTokenLifetimeSeconds`, `--max-token-lifetime`,
 * PARLEY_MAX_TOKEN_LIFETIME): applied at the WebSocket upgrade and on every HTTP route,
 * validated at construction, and honoured by the development sign-in's own tokens.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { resolveServerOptions } from '../src/config.ts'
import { createParleyServer } from '../src/server.ts'
import { startTestServer, type TestServer } from '../src/testing.ts'

const BIN = fileURLToPath(new URL('../bin/parley-server.js', import.meta.url))

/** The HTTP answer to an upgrade attempt. */
function upgrade(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url)
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

function sign(secret: string, build: (jwt: SignJWT) => SignJWT): Promise<string> {
  return build(new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' })).sign(new TextEncoder().encode(secret))
}

describe('maximum token lifetime on a server', () => {
  let server: TestServer
  beforeAll(async () => (server = await startTestServer({ maxTokenLifetimeSeconds: 3600 })))
  afterAll(() => server?.close())

  it('refuses a token without exp at the upgrade and on HTTP, saying why', async () => {
    const forever = await sign(server.secret, jwt => jwt.setIssuedAt())
    const refused = await upgrade(`${server.url}?token=${forever}`)
    expect(refused.status).toBe(401)
    expect(JSON.parse(refused.body)).toEqual({ error: { code: 'PARLEY_ERR_UNAUTHENTICATED', message: expect.stringContaining('no exp claim') } })
    const http = await server.server.app.inject({ method: 'GET', url: '/v1/conversations', headers: { authorization: `Bearer ${forever}` } })
    expect(http.statusCode).toBe(401)
    expect(http.json()).toEqual({ error: { code: 'PARLEY_ERR_UNAUTHENTICATED', message: expect.stringContaining('no exp claim') } })
  })

  it('refuses a token meant to live longer, and accepts one within the maximum', async () => {
    const long = await server.token('alice', '2h')
    expect((await upgrade(`${server.url}?token=${long}`)).status).toBe(401)
    const http = await server.server.app.inject({ method: 'GET', url: '/v1/conversations', headers: { authorization: `Bearer ${long}` } })
    expect(http.json()).toEqual({ error: { code: 'PARLEY_ERR_UNAUTHENTICATED', message: expect.stringContaining('(exp - iat)') } })
    expect((await upgrade(`${server.url}?token=${await server.token('alice', '1h')}`)).status).toBe(101)
  })
})

describe('maximum token lifetime as an option', () => {
  const dirs: string[] = []
  afterAll(() => Promise.all(dirs.map(dir => rm(dir, { recursive: true, force: true }))))

  it.each([0, -5, 2.5, Number.NaN])('is validated at construction: %s is refused', value => {
    expect(() => resolveServerOptions({ maxTokenLifetimeSeconds: value })).toThrow(expect.objectContaining({ code: 'PARLEY_ERR_INVALID_OPTION', message: expect.stringContaining('maxTokenLifetimeSeconds') }))
  })

  it('shortens the development sign-in’s tokens to the maximum', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-lifetime-'))
    dirs.push(dataDir)
    const server = await createParleyServer({ dataDir, port: 0, logLevel: 'silent', maxTokenLifetimeSeconds: 600 })
    try {
      const minted = await server.app.inject({ method: 'POST', url: '/v1/dev/token', payload: { user: 'alice' } })
      expect(minted.statusCode).toBe(201)
      const { token, expiresIn } = minted.json() as { token: string; expiresIn: string }
      expect(expiresIn).toBe('600s')
      const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { iat: number; exp: number }
      expect(claims.exp - claims.iat).toBe(600)
      expect((await server.app.inject({ method: 'GET', url: '/v1/conversations', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200)
    } finally {
      await server.close()
    }
  })

  it('is read from --max-token-lifetime or PARLEY_MAX_TOKEN_LIFETIME, and a bad value names the flag', async () => {
    const run = (args: string[], env: Record<string, string> = {}) =>
      new Promise<{ code: number | null; stderr: string }>(resolve => {
        const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
        let stderr = ''
        child.stderr.on('data', chunk => (stderr += chunk))
        child.on('exit', code => resolve({ code, stderr }))
      })
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-lifetime-'))
    dirs.push(dataDir)
    const bad = await run(['--data', dataDir, '--port', '0', '--max-token-lifetime', 'forever'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--max-token-lifetime must look like 30s, 15m, 1h or 7d, got "forever"')
    const zero = await run(['--data', dataDir, '--port', '0'], { PARLEY_MAX_TOKEN_LIFETIME: '0s' })
    expect(zero.code).toBe(2)
    expect(zero.stderr).toContain('maxTokenLifetimeSeconds must be an integer ≥ 1')
  })
})
