/**
 * Issue 13, item 1: one small frame froze the server. A 1,165-byte saved document (one
 * change of a million one-character inserts), sent by an authenticated client as the
 * changes of a sync message for a random document ID, kept the event loop busy for
 * 16 s and left RSS above 1 GB for good. Against a real server process with the default
 * limits (4 MiB frames): each such frame must be refused with its close code, /healthz
 * must answer right after, and the process's peak RSS must stay far below a gigabyte.
 */
import { next as Automerge } from '@automerge/automerge'
import { parseAutomergeUrl, stringifyAutomergeUrl, type BinaryDocumentId } from '@automerge/automerge-repo'
import { RawClient, uleb } from '@parley/sync-server/testing'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ServerProcess } from '../support/server-process.ts'
import { bytesOf, COMPRESSED_CHANGE, SAVED_DOCUMENT } from './decode-bomb-fixtures.ts'
import { health } from './run-cases.ts'

/** Peak resident memory of the process (VmHWM), in MiB. The server idles near 150 MiB; the bomb took it past 1 GiB. */
const peakRssMiB = (pid: number): number => Number(/^VmHWM:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024
const RSS_BOUND_MIB = 600

const randomDocumentId = (): string => parseAutomergeUrl(stringifyAutomergeUrl(randomBytes(16) as unknown as BinaryDocumentId)).documentId

describe('small frames that decode to large documents (issue 13, item 1)', () => {
  let server: ServerProcess
  const endpoint = { url: '', token: (user: string) => server.token(user) }

  beforeAll(async () => {
    server = await ServerProcess.start()
    endpoint.url = `${server.url}/sync`
  })
  afterAll(async () => {
    await server?.stop()
  })

  /** Sends one sync message as mallory; resolves with the close the server answers it with. */
  async function send(documentId: string, data: Uint8Array, peer: string): Promise<{ code: number; reason: string }> {
    const client = await RawClient.open(endpoint, 'mallory')
    try {
      const serverId = String((await client.join(peer)).senderId)
      client.send({ type: 'sync', senderId: peer, targetId: serverId, documentId, data })
      // Generous: the old code answered after 16-26 s; it must answer, whatever it takes.
      const closed = await client.closedWithin(60_000)
      expect(closed, 'the server never closed the connection').toBeDefined()
      return closed!
    } finally {
      client.terminate()
    }
  }

  async function expectServing(): Promise<void> {
    expect((await health(`http://127.0.0.1:${server.port}`)).status).toBe(200)
    expect(peakRssMiB(server.pid!)).toBeLessThan(RSS_BOUND_MIB)
  }

  it.each([
    ["the issue's 1,165-byte saved document", SAVED_DOCUMENT],
    ['the same change as a 1,081-byte compressed change chunk', COMPRESSED_CHANGE],
  ])('refuses %s with 4413 before decoding it, and keeps serving', async (_, base64) => {
    const data = Automerge.encodeSyncMessage({ heads: [], need: [], have: [], changes: [bytesOf(base64)] })
    const closed = await send(randomDocumentId(), data, `bomb-${base64.length}`)
    expect(closed.code).toBe(4413)
    expect(closed.reason).toMatch(/too large to decode/)
    await expectServing()
  })

  it('refuses a sync message of a million empty changes (1 MB) with 4400', async () => {
    const count = 1_000_000
    const data = new Uint8Array([0x42, 0, 0, 0, ...uleb(count), ...new Uint8Array(count)])
    const closed = await send(randomDocumentId(), data, 'empty-changes')
    expect(closed.code).toBe(4400)
    expect(closed.reason).toMatch(/changes/)
    await expectServing()
  })

  it('refuses a Bloom filter declaring 50 million probes, for a conversation the sender belongs to, with 4400', async () => {
    const response = await fetch(`http://127.0.0.1:${server.port}/v1/conversations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await server.token('mallory')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'probes', members: [] }),
    })
    expect(response.status).toBe(201)
    const { id } = (await response.json()) as { id: string }
    const bloom = new Uint8Array([1, 10, ...uleb(50_000_000), 0xff, 0xff])
    const data = Automerge.encodeSyncMessage({ heads: [], need: [], have: [{ lastSync: [], bloom }], changes: [] })
    const closed = await send(id, data, 'bloom-probes')
    expect(closed.code).toBe(4400)
    expect(closed.reason).toMatch(/Bloom/)
    await expectServing()
  })
})
