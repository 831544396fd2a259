/**
 * A server started with `postgres` keeps its documents, registry and event index in
 * PostgreSQL (no LevelDB under the data directory) and serves a conversation from there
 * after a restart.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { PostgresPool, PostgresStorageAdapter } from '../../src/storage/postgres/index.ts'
import { createTestDatabase, startTestServer, type PostgresTestDatabase, type TestServer } from '../../src/testing.ts'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function call(server: TestServer, method: 'GET' | 'POST', url: string, body?: object) {
  const response = await server.server.app.inject({ method, url, headers: { authorization: `Bearer ${await server.token('alice')}` }, ...(body ? { payload: body } : {}) })
  expect(response.statusCode, response.body).toBeLessThan(300)
  return response.json() as Record<string, any>
}

describe('documents in PostgreSQL (postgres option)', () => {
  it('serves a conversation across a restart from PostgreSQL', async () => {
    const database: PostgresTestDatabase = await createTestDatabase()
    cleanups.push(() => database.drop())
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-pg-server-'))
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }))

    let server = await startTestServer({ dataDir, postgres: database.url })
    const id = (await call(server, 'POST', '/v1/conversations', { members: ['bob'], title: 'kept in postgres' })).id as string
    for (const text of ['one', 'two']) await call(server, 'POST', `/v1/conversations/${id}/messages`, { text })
    await server.close()

    for (const database of ['db', 'acl', 'events']) expect(existsSync(join(dataDir, database)), database).toBe(false)
    const pool = new PostgresPool(database.url, { max: 1 })
    cleanups.push(() => pool.close())
    const documents = new Set((await new PostgresStorageAdapter(pool).loadRange([])).map(chunk => chunk.key[0])).size
    expect(documents).toBeGreaterThanOrEqual(2) // the head and a segment at least

    server = await startTestServer({ dataDir, postgres: database.url })
    cleanups.push(() => server.close())
    const head = await call(server, 'GET', `/v1/conversations/${id}`)
    expect(head.title).toBe('kept in postgres')
    expect(head.members.map((m: { userId: string }) => m.userId).sort()).toEqual(['alice', 'bob'])
    expect((await call(server, 'POST', `/v1/conversations/${id}/messages`, { text: 'three' })).seq).toBe(3)
    const page = await call(server, 'GET', `/v1/conversations/${id}/events?after=0`)
    expect(page.events.map((event: { seq: number; text: string }) => [event.seq, event.text])).toEqual([[1, 'one'], [2, 'two'], [3, 'three']])
  })

  it('refuses a URL that is not postgres://', async () => {
    await expect(startTestServer({ postgres: 'mysql://x' })).rejects.toMatchObject({ code: 'PARLEY_ERR_INVALID_OPTION' })
  })
})
