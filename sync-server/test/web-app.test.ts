/**
 * What the web client needs from the server: the built app at `/` (and nothing else
 * beyond the routes that exist), and the development sign-in, which exists only on the
 * generated development secret.
 */
import Fastify from 'fastify'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createParleyServer, type ParleyServer } from '../src/server.ts'
import { serveWebApp } from '../src/http/static.ts'

const dirs: string[] = []
const servers: ParleyServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map(server => server.close()))
  await Promise.all(dirs.splice(0).map(dir => rm(dir, { recursive: true, force: true })))
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-web-app-'))
  dirs.push(dir)
  return dir
}

async function server(options: { jwtSecret?: string } = {}): Promise<ParleyServer> {
  const created = await createParleyServer({ dataDir: await tempDir(), port: 0, logLevel: 'silent', ...options })
  servers.push(created)
  return created
}

describe('development sign-in', () => {
  it('mints a working token for any user name on the development secret', async () => {
    const { app } = await server()
    const minted = await app.inject({ method: 'POST', url: '/v1/dev/token', payload: { user: 'alice' } })
    expect(minted.statusCode).toBe(201)
    const { token, user } = minted.json() as { token: string; user: string }
    expect(user).toBe('alice')
    const listed = await app.inject({ method: 'GET', url: '/v1/conversations', headers: { authorization: `Bearer ${token}` } })
    expect(listed.statusCode).toBe(200)
    const openapi = (await app.inject({ method: 'GET', url: '/v1/openapi.json' })).json() as { paths: Record<string, unknown> }
    expect(openapi.paths['/v1/dev/token']).toBeDefined()
  })

  it('refuses a missing or blank user name', async () => {
    const { app } = await server()
    for (const payload of [{}, { user: '' }, { user: 'two words' }, { user: 'alice', admin: true }]) {
      const answer = await app.inject({ method: 'POST', url: '/v1/dev/token', payload })
      expect(answer.statusCode, JSON.stringify(payload)).toBe(400)
      expect(answer.json()).toMatchObject({ error: { code: 'PARLEY_ERR_BAD_REQUEST' } })
    }
  })

  it('answers only requests from this machine', async () => {
    const { app } = await server()
    const remote = await app.inject({ method: 'POST', url: '/v1/dev/token', payload: { user: 'alice' }, remoteAddress: '192.0.2.7' })
    expect(remote.statusCode).toBe(403)
    expect(remote.json()).toMatchObject({ error: { code: 'PARLEY_ERR_FORBIDDEN' } })
    const loopback6 = await app.inject({ method: 'POST', url: '/v1/dev/token', payload: { user: 'alice' }, remoteAddress: '::1' })
    expect(loopback6.statusCode).toBe(201)
  })

  it('does not exist when a secret is configured', async () => {
    const { app } = await server({ jwtSecret: 'a-configured-secret-long-enough' })
    const answer = await app.inject({ method: 'POST', url: '/v1/dev/token', payload: { user: 'alice' } })
    expect(answer.statusCode).toBe(404)
    const openapi = (await app.inject({ method: 'GET', url: '/v1/openapi.json' })).json() as { paths: Record<string, unknown> }
    expect(openapi.paths['/v1/dev/token']).toBeUndefined()
  })
})

describe('serving the web app', () => {
  async function build(): Promise<string> {
    const dir = await tempDir()
    await mkdir(join(dir, 'assets'))
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>Parley</title>')
    await writeFile(join(dir, 'sw.js'), 'self.addEventListener("fetch", () => {})')
    await writeFile(join(dir, 'assets', 'app-1234.js'), 'console.log("app")')
    await writeFile(join(dir, 'assets', 'automerge-1234.wasm'), new Uint8Array([0, 97, 115, 109]))
    return dir
  }

  it('serves index.html at /, hashed assets for ever, top-level files revalidated', async () => {
    const app = Fastify()
    expect(await serveWebApp(app, await build())).toBe(true)
    const index = await app.inject({ method: 'GET', url: '/' })
    expect(index.statusCode).toBe(200)
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(index.headers['cache-control']).toBe('no-cache')
    expect(index.body).toContain('<title>Parley</title>')
    const asset = await app.inject({ method: 'GET', url: '/assets/app-1234.js' })
    expect(asset.headers['content-type']).toBe('text/javascript; charset=utf-8')
    expect(asset.headers['cache-control']).toContain('immutable')
    expect((await app.inject({ method: 'GET', url: '/assets/automerge-1234.wasm' })).headers['content-type']).toBe('application/wasm')
    expect((await app.inject({ method: 'GET', url: '/sw.js' })).headers['cache-control']).toBe('no-cache')
    await app.close()
  })

  it('serves nothing outside the build and answers 404 for unknown files', async () => {
    const app = Fastify()
    await serveWebApp(app, await build())
    for (const url of ['/assets/missing.js', '/assets/..%2findex.html', '/assets/%2e%2e/%2e%2e/package.json', '/package.json', '/nowhere']) {
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(404)
    }
    await app.close()
  })

  it('registers nothing when there is no build', async () => {
    const app = Fastify()
    expect(await serveWebApp(app, await tempDir())).toBe(false)
    expect((await app.inject({ method: 'GET', url: '/' })).statusCode).toBe(404)
    await app.close()
  })
})
