/**
 * The repo's share check (server.ts `shareConfig.access`) while PostgreSQL does not
 * answer: automerge-repo calls it where a rejection is not handled (a peer joining, a
 * document added), so a registry read that fails must answer "no access", never reject.
 * PostgreSQL is cut off by a TCP proxy between the node and its own test database.
 */
import type { DocumentId, PeerId } from '@automerge/automerge-repo'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, RawClient, startTestServer, type PostgresTestDatabase, type TestServer } from '../../src/testing.ts'
import { TcpProxy } from './tcp-proxy.ts'

describe('share check with PostgreSQL down', () => {
  let database: PostgresTestDatabase
  let proxy: TcpProxy
  let node: TestServer
  let client: RawClient | undefined

  beforeAll(async () => {
    database = await createTestDatabase()
    const url = new URL(database.url)
    proxy = await TcpProxy.start({ host: url.hostname, port: Number(url.port || 5432) })
    url.host = `127.0.0.1:${proxy.port}`
    node = await startTestServer({ postgres: url.toString() })
  })
  afterAll(async () => {
    client?.terminate()
    await proxy?.restore()
    await node?.close()
    await proxy?.close()
    await database?.drop()
  })

  it('answers "no access" for a document whose registry entry cannot be read, and does not reject', async () => {
    client = await RawClient.open(node, 'alice')
    await client.join('alice-device')
    const repo = node.server.repo
    await expect.poll(() => repo.peers.length).toBe(1)
    const peer = repo.peers[0]! as PeerId
    // Not in the registry's cache: asking reads PostgreSQL.
    const unknown = 'share-access-outage-doc' as DocumentId
    expect(await repo.shareConfig.access(peer, unknown)).toBe(true) // unregistered: nothing stored to leak (registry.ts canRead)

    const other = 'share-access-outage-other' as DocumentId
    await proxy.cut()
    await expect(repo.shareConfig.access(peer, other)).resolves.toBe(false)

    await proxy.restore()
    await expect.poll(async () => repo.shareConfig.access(peer, other), { timeout: 15_000 }).toBe(true)
  })
})
