/** A download whose reader stopped reading does not hold the server's close (src/blobs/routes.ts preClose). */
import { randomBytes } from 'node:crypto'
import { get, type IncomingMessage } from 'node:http'
import { describe, expect, it } from 'vitest'
import { startTestServer } from '../src/testing.ts'
import { sha256, uploadWhole } from './blobs-helpers.ts'

describe('closing with a download in flight', () => {
  it('ends the stalled download and closes', async () => {
    const server = await startTestServer()
    const bytes = randomBytes(32 * 1024 * 1024)
    const hash = sha256(bytes)
    expect((await uploadWhole(server, 'alice', bytes, { hash, mime: 'application/octet-stream' })).status).toBe(204)
    // The uploader may download; this reader takes the headers and then reads nothing.
    const token = await server.token('alice')
    const response = await new Promise<IncomingMessage>((resolve, reject) => get(`${server.httpUrl}/v1/blobs/${hash}`, { headers: { authorization: `Bearer ${token}` } }, resolve).on('error', reject))
    expect(response.statusCode).toBe(200)
    response.pause()
    await server.close()
    // Read what arrived: the download was cut short.
    let received = 0
    await new Promise<void>(resolve => {
      response.on('data', (chunk: Buffer) => (received += chunk.byteLength))
      response.once('close', () => resolve())
      response.once('error', () => resolve())
      response.resume()
    })
    expect(received).toBeLessThan(bytes.byteLength)
    expect(response.complete).toBe(false)
  })
})
