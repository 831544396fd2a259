/**
 * Streams that outlive their welcome, against a real server process: an SSE client that
 * stops reading while the server keeps writing, membership that flips under it, a head
 * unloaded under it, and sockets reset at awkward moments. None of it may reach the
 * process as an unhandled error: after each, the same process still answers.
 */
import { connect, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { ServerProcess } from '../support/server-process.ts'
import { upgradeRequest } from './raw-http.ts'

const servers: ServerProcess[] = []
const sockets: Socket[] = []
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  await Promise.all(servers.splice(0).map(server => server.stop()))
})

async function start(args: string[] = []): Promise<ServerProcess> {
  const server = await ServerProcess.start(args)
  servers.push(server)
  return server
}

async function call(server: ServerProcess, user: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`http://127.0.0.1:${server.port}${path}`, {
    method,
    headers: { authorization: `Bearer ${await server.token(user)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) : undefined }
}

/** The process answers /healthz: it did not die. */
async function expectAlive(server: ServerProcess): Promise<void> {
  expect(server.pid, server.log).toBeDefined()
  expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200)
  expect(server.pid, server.log).toBeDefined()
}

/**
 * Opens `/stream` over raw TCP, waits for the stream to open, then stops reading: the
 * kernel buffers fill and the server's writes queue in the response.
 */
async function openAndStopReading(server: ServerProcess, user: string, conversationId: string): Promise<Socket> {
  const token = await server.token(user)
  const socket = connect(server.port, '127.0.0.1')
  sockets.push(socket)
  socket.on('error', () => {})
  socket.write(`GET /v1/conversations/${conversationId}/stream?after=0 HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nAuthorization: Bearer ${token}\r\n\r\n`)
  let seen = ''
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString('latin1')
      if (!seen.includes(': stream open')) return
      socket.off('data', onData)
      socket.pause()
      resolve()
    }
    socket.on('data', onData)
    socket.once('close', () => reject(new Error(`stream closed before it opened: ${seen}`)))
  })
  expect(seen).toMatch(/^HTTP\/1\.1 200/)
  return socket
}

/** Reads again, until the server closes the connection or `enough` says so; what came. */
function readOn(socket: Socket, enough: (text: string) => boolean = () => false): Promise<{ text: string; closed: boolean }> {
  return new Promise(resolve => {
    let text = ''
    const closed = (): void => resolve({ text, closed: true })
    socket.on('data', chunk => {
      text += chunk.toString('latin1')
      if (enough(text)) resolve({ text, closed: false })
    })
    socket.on('end', closed)
    socket.on('close', closed)
    if (socket.destroyed || socket.readableEnded) closed()
    socket.resume()
  })
}

const big = 'a'.repeat(16 * 1024)

describe('streams that outlive their welcome', () => {
  it('survives a member who stops reading, is removed and added back while the owner publishes', async () => {
    const server = await start()
    const created = await call(server, 'owner', 'POST', '/v1/conversations', { members: ['m'] })
    expect(created.status).toBe(201)
    const id = created.body.id as string
    const stream = await openAndStopReading(server, 'm', id)
    for (let i = 0; i < 300; i++) expect((await call(server, 'owner', 'POST', `/v1/conversations/${id}/messages`, { text: big })).status).toBe(201)
    expect((await call(server, 'owner', 'DELETE', `/v1/conversations/${id}/members/m`)).status).toBe(200)
    expect((await call(server, 'owner', 'POST', `/v1/conversations/${id}/members`, { userId: 'm' })).status).toBe(201)
    expect((await call(server, 'owner', 'POST', `/v1/conversations/${id}/messages`, { text: 'once more' })).status).toBe(201)
    expect((await call(server, 'owner', 'POST', `/v1/conversations/${id}/messages`, { text: 'and again' })).status).toBe(201)
    await expectAlive(server)
    // The stream ended at the removal: nothing stored after it reaches m on this stream.
    const rest = await readOn(stream, text => text.includes('and again'))
    expect(rest.closed).toBe(true)
    expect(rest.text).not.toContain('once more')
    expect(rest.text).not.toContain('and again')
  })

  it('cuts an event stream whose client stops reading once maxBufferedBytes wait for it', async () => {
    const server = await start(['--max-buffered-bytes', String(1024 * 1024), '--max-text-bytes', String(256 * 1024)])
    const id = (await call(server, 'owner', 'POST', '/v1/conversations', { members: ['m'] })).body.id as string
    const stream = await openAndStopReading(server, 'm', id)
    // 15 MB: far more than the limit plus what the kernel buffers on both sides of a loopback connection (about 4 MB here).
    const huge = 'a'.repeat(256 * 1024)
    const count = 60
    for (let i = 0; i < count; i++) expect((await call(server, 'owner', 'POST', `/v1/conversations/${id}/messages`, { text: huge })).status).toBe(201)
    // The server hung up on m without being asked, before all of it was sent.
    const rest = await readOn(stream, text => text.includes(`id: ${count}\n`))
    expect(rest.closed).toBe(true)
    expect(rest.text.length).toBeLessThan(count * huge.length)
    await expectAlive(server)
  })

  it('survives clients that reset the connection while their upgrade is checked or refused, or while they stream or poll', async () => {
    const server = await start()
    const token = await server.token('alice')
    const id = (await call(server, 'alice', 'POST', '/v1/conversations', { members: [] })).body.id as string
    for (let i = 0; i < 20; i++) {
      const stream = await openAndStopReading(server, 'alice', id)
      const published = call(server, 'alice', 'POST', `/v1/conversations/${id}/messages`, { text: big })
      stream.resetAndDestroy()
      expect((await published).status).toBe(201)
      const poll = connect(server.port, '127.0.0.1')
      sockets.push(poll)
      poll.on('error', () => {})
      await new Promise((resolve, reject) => poll.once('connect', resolve).once('error', reject))
      poll.write(`GET /v1/conversations/${id}/events?after=1000&wait=30 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`)
      poll.resetAndDestroy()
    }
    // A bad token is refused after the (asynchronous) check; a good one is upgraded after it.
    for (let i = 0; i < 100; i++) {
      const socket = connect(server.port, '127.0.0.1')
      sockets.push(socket)
      socket.on('error', () => {})
      await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
      socket.write(upgradeRequest(`/sync?token=${i % 2 === 0 ? 'not-a-token' : token}`))
      socket.resetAndDestroy()
    }
    await expectAlive(server)
  })
})
