/**
 * /readyz with --postgres: 503 while PostgreSQL does not answer, 200 again once it does
 * (cluster/postgres-readiness.ts). PostgreSQL is cut off by a TCP proxy between the node
 * and its own test database: the database keeps running, the node cannot reach it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, startTestServer, type PostgresTestDatabase, type TestServer } from '../../src/testing.ts'
import { TcpProxy } from './tcp-proxy.ts'

interface Readiness {
  ready: boolean
  postgres?: { reachable: boolean; problem?: string }
}

describe('readiness with PostgreSQL', () => {
  let database: PostgresTestDatabase
  let proxy: TcpProxy
  let node: TestServer

  beforeAll(async () => {
    database = await createTestDatabase()
    const url = new URL(database.url)
    proxy = await TcpProxy.start({ host: url.hostname, port: Number(url.port || 5432) })
    url.host = `127.0.0.1:${proxy.port}`
    node = await startTestServer({ postgres: url.toString() })
  })
  afterAll(async () => {
    await proxy?.restore()
    await node?.close()
    await proxy?.close()
    await database?.drop()
  })

  const readyz = async (): Promise<{ status: number; body: Readiness }> => {
    const response = await fetch(`${node.httpUrl}/readyz`)
    return { status: response.status, body: (await response.json()) as Readiness }
  }

  it('is 503 while PostgreSQL does not answer and 200 once it does again', async () => {
    expect(await readyz()).toEqual({ status: 200, body: expect.objectContaining({ ready: true, postgres: { reachable: true } }) })

    await proxy.cut()
    await expect.poll(async () => (await readyz()).status, { timeout: 15_000 }).toBe(503)
    const down = await readyz()
    expect(down.body).toMatchObject({ ready: false, postgres: { reachable: false, problem: expect.any(String) } })
    expect(((await (await fetch(`${node.httpUrl}/healthz`)).json()) as Readiness).ready).toBe(false)

    await proxy.restore()
    await expect.poll(async () => (await readyz()).status, { timeout: 15_000 }).toBe(200)
    expect((await readyz()).body).toMatchObject({ ready: true, postgres: { reachable: true } })
  })
})
