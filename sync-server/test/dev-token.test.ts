/**
 * The development sign-in trusts no more than it must: besides a loopback socket, the
 * Host header must name this machine (a page whose name was rebound to 127.0.0.1 sends
 * its own name), and a request a proxy forwarded is refused (behind a proxy on the same
 * host every caller's socket is loopback).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isLoopbackHost } from '../src/http/dev-token.ts'
import { createParleyServer, type ParleyServer } from '../src/server.ts'

/** One request over a real socket; the status line and body. */
function raw(port: number, headers: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ user: 'alice' })
    const socket = connect(port, '127.0.0.1')
    let text = ''
    socket.on('data', chunk => (text += chunk))
    socket.on('error', reject)
    socket.on('end', () => resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]), body: text.slice(text.indexOf('\r\n\r\n') + 4) }))
    socket.write([`POST /v1/dev/token HTTP/1.1`, ...headers, 'Content-Type: application/json', `Content-Length: ${body.length}`, 'Connection: close', '', body].join('\r\n'))
  })
}

describe('development sign-in: Host and proxy checks', () => {
  let server: ParleyServer
  let dataDir: string
  let port: number
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'parley-dev-token-'))
    server = await createParleyServer({ dataDir, port: 0, logLevel: 'silent' })
    port = Number(new URL(await server.listen()).port)
  })
  afterAll(async () => {
    await server?.close()
    await rm(dataDir, { recursive: true, force: true })
  })

  const signIn = (headers: Record<string, string>) => server.app.inject({ method: 'POST', url: '/v1/dev/token', payload: { user: 'alice' }, headers })

  it('answers a Host naming this machine on its port', async () => {
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `LocalHost:${port}`]) {
      expect((await signIn({ host })).statusCode, host).toBe(201)
    }
  })

  it('refuses any other Host, saying which it expects', async () => {
    for (const host of ['evil.example', `evil.example:${port}`, `localhost:${port + 1}`, 'localhost', `127.0.0.1.nip.io:${port}`, `localhost.:${port}`, `[::2]:${port}`, `user@localhost:${port}`]) {
      const answer = await signIn({ host })
      expect(answer.statusCode, host).toBe(403)
      expect(answer.json(), host).toEqual({ error: { code: 'PARLEY_ERR_FORBIDDEN', message: expect.stringContaining(`Host header naming this machine (localhost:${port}`) } })
    }
  })

  it('refuses requests carrying proxy headers, naming them', async () => {
    for (const header of ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-real-ip', 'via']) {
      const answer = await signIn({ host: `127.0.0.1:${port}`, [header]: header === 'forwarded' ? 'for=203.0.113.9' : '203.0.113.9' })
      expect(answer.statusCode, header).toBe(403)
      expect(answer.json(), header).toEqual({ error: { code: 'PARLEY_ERR_FORBIDDEN', message: expect.stringContaining(`refuses proxied requests (${header})`) } })
    }
  })

  it('refuses user names that are no valid user ID, which no token could carry', async () => {
    for (const user of ['__proto__', 'constructor', 'toString']) {
      const answer = await server.app.inject({ method: 'POST', url: '/v1/dev/token', payload: { user }, headers: { host: `localhost:${port}` } })
      expect(answer.statusCode, user).toBe(400)
      expect(answer.json()).toEqual({ error: { code: 'PARLEY_ERR_BAD_REQUEST', message: expect.stringContaining('not a valid user ID') } })
    }
  })

  it('applies both over a real socket', async () => {
    expect((await raw(port, [`Host: 127.0.0.1:${port}`])).status).toBe(201)
    const rebound = await raw(port, ['Host: evil.example'])
    expect(rebound.status).toBe(403)
    expect(JSON.parse(rebound.body)).toMatchObject({ error: { code: 'PARLEY_ERR_FORBIDDEN' } })
    const proxied = await raw(port, [`Host: 127.0.0.1:${port}`, 'X-Forwarded-For: 203.0.113.9'])
    expect(proxied.status).toBe(403)
  })
})

describe('isLoopbackHost', () => {
  it.each<[string | undefined, number | undefined, boolean]>([
    ['localhost:8787', 8787, true],
    ['127.0.0.1:8787', 8787, true],
    ['127.8.9.10:8787', 8787, true],
    ['[::1]:8787', 8787, true],
    ['localhost', 80, true],
    ['localhost', 8787, false],
    ['localhost:8788', 8787, false],
    ['localhost:8787', undefined, true],
    ['evil.example:8787', undefined, false],
    ['::1', 8787, false],
    ['', 8787, false],
    [undefined, 8787, false],
  ])('%s on port %s: %s', (host, port, expected) => {
    expect(isLoopbackHost(host, port)).toBe(expected)
  })
})
