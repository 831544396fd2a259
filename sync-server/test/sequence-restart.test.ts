/**
 * The server sequence lives in LevelDB: after a restart numbering continues where it
 * stopped, nothing is renumbered when segments are read again, and an idempotency key
 * used before the restart still finds its event.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from '../src/testing.ts'

describe('server sequence across a restart', () => {
  let dataDir: string
  afterAll(() => rm(dataDir, { recursive: true, force: true }))

  async function call(server: TestServer, method: 'GET' | 'POST', url: string, body?: object) {
    const response = await server.server.app.inject({ method, url, headers: { authorization: `Bearer ${await server.token('alice')}` }, ...(body ? { payload: body } : {}) })
    return response.json() as Record<string, any>
  }

  it('continues numbering, keeps the old numbers, and honours idempotency keys', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'parley-seq-'))
    let server = await startTestServer({ dataDir })
    const id = (await call(server, 'POST', '/v1/conversations', { members: ['bob'] })).id as string
    for (const text of ['one', 'two']) await call(server, 'POST', `/v1/conversations/${id}/messages`, { text })
    const keyed = await call(server, 'POST', `/v1/conversations/${id}/messages`, { text: 'three', idempotencyKey: 'retry-me' })
    expect(keyed.seq).toBe(3)
    await server.close()

    server = await startTestServer({ dataDir })
    expect(await call(server, 'POST', `/v1/conversations/${id}/messages`, { text: 'three', idempotencyKey: 'retry-me' })).toEqual(keyed)
    expect((await call(server, 'POST', `/v1/conversations/${id}/messages`, { text: 'four' })).seq).toBe(4)
    const page = await call(server, 'GET', `/v1/conversations/${id}/events?after=0`)
    expect(page.events.map((event: { seq: number; text: string }) => [event.seq, event.text])).toEqual([[1, 'one'], [2, 'two'], [3, 'three'], [4, 'four']])
    await server.close()
  })
})
