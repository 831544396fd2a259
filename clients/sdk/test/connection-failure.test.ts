/**
 * A failed attempt says why (network/failure.ts): nothing answered, the token was refused
 * (with the server's reason), or what answered is no sync endpoint. Real sockets (Node's
 * `ws`) against small HTTP servers answering as a Parley server or another server would.
 */
import type { PeerId } from '@automerge/automerge-repo/slim'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { ParleyError } from '../src/errors.ts'
import { ServerConnection, type WebSocketClass } from '../src/network/connection.ts'
import { failedAttempt, refusedUpgrade } from '../src/network/failure.ts'
import { FakeSocket } from './fake-socket.ts'

/** An HTTP server that answers every upgrade with `status` and `body`. */
async function answering(status: number, body: string): Promise<{ server: Server; url: string }> {
  const server = createServer((_request, response) => response.writeHead(status).end(body))
  server.on('upgrade', (_request, socket) => {
    socket.end(`HTTP/1.1 ${status} Refused\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { server, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/sync` }
}

/** The first error a connection to `url` reports, and its `failure` then. */
function firstError(url: string): Promise<{ error: ParleyError; connection: ServerConnection }> {
  return new Promise(resolve => {
    const connection: ServerConnection = new ServerConnection({
      url,
      token: async () => 'SECRET-TOKEN',
      backoff: { minMs: 60_000, maxMs: 60_000 },
      onError: error => {
        connection.disconnect()
        resolve({ error, connection })
      },
    })
    connection.connect('me' as PeerId, {})
  })
}

describe('a failed connection attempt says why', () => {
  const servers: Server[] = []
  afterEach(async () => {
    await Promise.all(servers.splice(0).map(server => new Promise(resolve => server.close(resolve))))
  })

  it("quotes the server's reason for a refused token, at the first attempt", async () => {
    const { server, url } = await answering(401, JSON.stringify({ error: { code: 'PARLEY_ERR_UNAUTHENTICATED', message: '"exp" claim timestamp check failed' } }))
    servers.push(server)
    const { error, connection } = await firstError(url)
    expect(error.code).toBe('PARLEY_ERR_UNAUTHENTICATED')
    expect(error.message).toBe(`the server at ${url} refused the token: "exp" claim timestamp check failed`)
    expect(connection.failure).toBe(error)
  })

  it('tells a wrong path on a Parley server (404) and a server of another kind apart from a refused token', async () => {
    const wrongPath = await answering(404, JSON.stringify({ error: { code: 'PARLEY_ERR_NOT_FOUND', message: 'WebSocket sync lives at /sync' } }))
    const other = await answering(200, '<html>hello</html>')
    servers.push(wrongPath.server, other.server)
    const notFound = (await firstError(wrongPath.url)).error
    expect([notFound.code, notFound.message]).toEqual([
      'PARLEY_ERR_NOT_SYNC_SERVER',
      `${wrongPath.url} is not a Parley sync endpoint (HTTP 404: WebSocket sync lives at /sync); the URL should be ws(s)://HOST:PORT or end in /sync`,
    ])
    const html = (await firstError(other.url)).error
    expect(html.code).toBe('PARLEY_ERR_NOT_SYNC_SERVER')
    expect(html.message).toContain('(HTTP 200)')
  })

  it('says a closed port and an unknown host cannot be reached, naming the cause', async () => {
    const { server, url } = await answering(200, '')
    await new Promise(resolve => server.close(resolve))
    const refused = (await firstError(url)).error
    expect([refused.code, refused.message]).toEqual(['PARLEY_ERR_UNREACHABLE', `cannot reach the server at ${url} (ECONNREFUSED)`])
    const unknown = (await firstError('ws://no-such-host.invalid:8787/sync')).error
    expect(unknown.code).toBe('PARLEY_ERR_UNREACHABLE')
    expect(unknown.message).toMatch(/^cannot reach the server at ws:\/\/no-such-host\.invalid:8787\/sync \((ENOTFOUND|EAI_AGAIN)\)$/)
  })

  it('never puts the token in a message', () => {
    expect(refusedUpgrade('ws://h/sync?token=SECRET', 401, '').message).not.toContain('SECRET')
    expect(failedAttempt('ws://h/sync?token=SECRET', { error: { code: 'ECONNREFUSED' } }).message).not.toContain('SECRET')
  })

  it('reports an unreachable server once per outage, not on every retry', async () => {
    vi.useFakeTimers()
    try {
      FakeSocket.instances = []
      const errors: ParleyError[] = []
      const connection = new ServerConnection({
        url: 'ws://server.test/sync',
        token: async () => 'token',
        backoff: { minMs: 100, maxMs: 100, random: () => 0 },
        onError: error => errors.push(error),
        WebSocket: FakeSocket as unknown as WebSocketClass,
      })
      connection.connect('me' as PeerId, {})
      for (let attempt = 0; attempt < 5; attempt++) {
        await vi.advanceTimersByTimeAsync(100)
        FakeSocket.instances.at(-1)!.onerror?.({ message: 'connect ECONNREFUSED', error: { code: 'ECONNREFUSED' } })
        FakeSocket.instances.at(-1)!.close(1006)
      }
      expect(FakeSocket.instances.length).toBeGreaterThanOrEqual(5)
      expect(errors.map(error => error.code)).toEqual(['PARLEY_ERR_UNREACHABLE'])
      // Back online, then down again: a new outage is reported again.
      await vi.advanceTimersByTimeAsync(100)
      FakeSocket.instances.at(-1)!.accept()
      expect(connection.failure).toBeUndefined()
      FakeSocket.instances.at(-1)!.close(1006)
      await vi.advanceTimersByTimeAsync(100)
      FakeSocket.instances.at(-1)!.onerror?.({ message: 'connect ECONNREFUSED', error: { code: 'ECONNREFUSED' } })
      FakeSocket.instances.at(-1)!.close(1006)
      expect(errors.map(error => error.code)).toEqual(['PARLEY_ERR_UNREACHABLE', 'PARLEY_ERR_UNREACHABLE'])
      connection.disconnect()
    } finally {
      vi.useRealTimers()
    }
  })
})
