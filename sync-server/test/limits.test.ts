/**
 * Limits with documented answers: a client that stops reading (4408), one that sends too
 * fast (4429), too many connections (HTTP 429), bytes before authentication (HTTP 413),
 * a token that expires during the connection (4401). Other clients are unaffected.
 */
import { next as Automerge } from '@automerge/automerge'
import { inboxDocumentId, type HeadDoc } from '@parley/core'
import { connect as tcpConnect } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { WebSocket } from 'ws'
import { ParleyServerAdapter } from '../src/network/server-adapter.ts'
import { startTestServer, type TestServer } from '../src/testing.ts'
import { createConversationDocs, findWhenSynced, RawClient, stockRepo, type StockClient } from './helpers.ts'

describe('limits', () => {
  const cleanup: (() => unknown)[] = []
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step()
  })

  async function server(options: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
    const started = await startTestServer(options)
    cleanup.push(() => started.close())
    return started
  }

  async function stock(at: TestServer, user: string): Promise<StockClient> {
    const client = await stockRepo(at, user)
    cleanup.push(() => client.close())
    return client
  }

  /** How many connections the server closed with `code`, from its /metrics. */
  async function closedWith(at: TestServer, code: number): Promise<number> {
    const text = (await at.server.app.inject({ method: 'GET', url: '/metrics' })).body
    return Number(new RegExp(`^parley_connections_closed_total\\{code="${code}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0)
  }

  /** The upgrade's HTTP answer when it is refused. */
  function refusedUpgrade(url: string): Promise<{ status: number; body: unknown; retryAfter?: string }> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url)
      socket.on('open', () => reject(new Error('upgrade was accepted')))
      socket.on('unexpected-response', (_request, response) => {
        let body = ''
        response.on('data', chunk => (body += chunk))
        const retryAfter = response.headers['retry-after']
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(body), ...(retryAfter && { retryAfter }) }))
      })
    })
  }

  it('closes a client that stopped reading with 4408 once its buffer passes the bound, while others keep receiving', async () => {
    const at = await server({ maxBufferedBytes: 256 * 1024 })
    const alice = await stock(at, 'alice')
    const { head } = createConversationDocs(alice.repo, 'alice', ['bob', 'carol'])
    const carol = await stock(at, 'carol')
    const carolsHead = await findWhenSynced<HeadDoc>(carol, head.documentId)
    // Bob subscribes over a raw socket, then stops reading from TCP.
    const bob = await RawClient.open(at, 'bob')
    const { targetId: bobPeer } = await bob.join('bob-slow')
    const [, request] = Automerge.generateSyncMessage(Automerge.init(), Automerge.initSyncState())
    bob.send({ type: 'request', senderId: bobPeer, targetId: at.server.repo.peerId, documentId: head.documentId, data: request })
    await bob.next(message => message.type === 'sync')
    ;(bob.socket as unknown as { _socket: { pause(): void } })._socket.pause()

    let received = 0
    let allArrived = (): void => {}
    carolsHead.on('ephemeral-message', () => ++received === sent && allArrived())
    const payload = 'x'.repeat(32 * 1024)
    let sent = 0
    // Bounded: a few thousand 32 KiB messages at most.
    while ((await closedWith(at, 4408)) === 0 && sent < 3000) {
      for (let burst = 0; burst < 20; burst++) head.broadcast({ typing: payload, n: sent++ })
      // Let the sockets move (the metrics scrape alone never reaches the I/O phase).
      await new Promise(resolve => setImmediate(resolve))
    }
    expect(await closedWith(at, 4408)).toBe(1)
    // Carol received everything sent.
    await new Promise<void>(resolve => {
      allArrived = resolve
      if (received === sent) resolve()
    })
    expect(received).toBe(sent)
  })

  it('closes a client that stopped reading with 4408 whatever it asks for: heads replies go through the same buffer bound (issue 13, item 9)', async () => {
    const maxBufferedBytes = 256 * 1024
    const at = await server({ maxBufferedBytes })
    // Watch the server's side of the socket: how much waited to be sent each time it sent a frame.
    const frames: { waiting: number; bytes: number }[] = []
    const accept = vi.spyOn(ParleyServerAdapter.prototype, 'accept').mockImplementation(function (this: ParleyServerAdapter, socket, identity, log) {
      const send = socket.send.bind(socket) as (data: Uint8Array) => void
      socket.send = ((data: Uint8Array) => {
        frames.push({ waiting: socket.bufferedAmount, bytes: data.byteLength })
        send(data)
      }) as typeof socket.send
      accept.mockRestore()
      return this.accept(socket, identity, log)
    })
    const mallory = await RawClient.open(at, 'mallory')
    await mallory.join('mallory-deaf')
    expect(accept).not.toHaveBeenCalled() // restored: only mallory's socket is watched
    ;(mallory.socket as unknown as { _socket: { pause(): void } })._socket.pause()
    // Each reply names 1,000 documents (about 34 KB); the requests themselves are small enough to keep coming.
    const documentIds = Array.from({ length: 1000 }, (_, i) => inboxDocumentId(`nobody-${i}`))
    let outcome: { code: number } | undefined
    void mallory.closed.then(closed => (outcome = closed))
    for (let sent = 0; outcome === undefined && sent < 1500; ) {
      for (let burst = 0; burst < 10; burst++) mallory.send({ type: 'parley/heads-request', senderId: 'mallory-deaf', requestId: sent++, documentIds })
      await new Promise(resolve => setTimeout(resolve, 5))
    }
    expect(await closedWith(at, 4408)).toBe(1)
    // No frame was sent while more than the bound waited: at most the bound plus one frame ever waited.
    expect(frames.length).toBeGreaterThan(10)
    expect(Math.max(...frames.map(frame => frame.waiting))).toBeLessThanOrEqual(maxBufferedBytes)
  })

  it('closes a user who sends faster than their rate with 4429, on every connection they hold, and refuses their reconnects for a while', async () => {
    const at = await server({ messagesPerSecond: 5, messageBurst: 10 })
    // Two connections share one bucket: 6 messages on each is more than the burst of 10.
    const first = await RawClient.open(at, 'mallory')
    const second = await RawClient.open(at, 'mallory')
    const { targetId } = await first.join('mallory-fast')
    await second.join('mallory-other')
    for (let i = 0; i < 6; i++) first.send({ type: 'parley/heads-request', senderId: targetId, requestId: i, documentIds: [] })
    for (let i = 0; i < 6; i++) second.send({ type: 'parley/heads-request', senderId: 'mallory-other', requestId: i, documentIds: [] })
    expect(await second.closed).toMatchObject({ code: 4429, reason: expect.stringMatching(/from this user/) })
    // A new connection does not bring a fresh burst: refused until the bucket is half full (1 s at 5/s).
    const refused = await refusedUpgrade(`${at.url}?token=${await at.token('mallory')}`)
    expect(refused).toEqual({ status: 429, retryAfter: '1', body: { error: { code: 'PARLEY_ERR_RATE_LIMITED', message: expect.stringMatching(/rate limited/) } } })
    // Someone else is unaffected.
    const other = await RawClient.open(at, 'alice')
    expect(await other.join('alice-ok')).toMatchObject({ type: 'peer' })
    other.socket.close()
    first.socket.close()
  })

  it('refuses connections past the per-user and per-IP limits with HTTP 429', async () => {
    const at = await server({ maxConnectionsPerUser: 2, maxConnectionsPerIp: 3 })
    const open: RawClient[] = [await RawClient.open(at, 'alice'), await RawClient.open(at, 'alice')]
    cleanup.push(() => open.forEach(client => client.socket.close()))
    const perUser = await refusedUpgrade(`${at.url}?token=${await at.token('alice')}`)
    expect(perUser).toEqual({ status: 429, body: { error: { code: 'PARLEY_ERR_TOO_MANY_CONNECTIONS', message: expect.stringMatching(/this user/) } } })
    open.push(await RawClient.open(at, 'bob'))
    const perIp = await refusedUpgrade(`${at.url}?token=${await at.token('carol')}`)
    expect(perIp).toEqual({ status: 429, body: { error: { code: 'PARLEY_ERR_TOO_MANY_CONNECTIONS', message: expect.stringMatching(/from/) } } })
  })

  it('refuses bytes sent before the token is checked past the bound with HTTP 413', async () => {
    const at = await server({ maxPreAuthBytes: 1024 })
    const { port } = new URL(at.url)
    const answer = await new Promise<string>(resolve => {
      const socket = tcpConnect(Number(port), '127.0.0.1', () => {
        const upgrade = `GET /sync?token=${'a'.repeat(10)} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`
        socket.write(Buffer.concat([Buffer.from(upgrade), Buffer.alloc(8 * 1024, 0x41)]))
      })
      let text = ''
      socket.on('data', chunk => (text += chunk))
      socket.on('close', () => resolve(text))
    })
    expect(answer).toMatch(/^HTTP\/1\.1 413/)
    expect(answer).toContain('PARLEY_ERR_TOO_LARGE')
  })

  it('closes a connection with 4401 when its token expires', async () => {
    const at = await server()
    const client = await RawClient.open(at, 'alice', { token: await at.token('alice', '1s') })
    await client.join('alice-expiring')
    expect(await client.closed).toEqual({ code: 4401, reason: 'token expired' })
  })
})
