/**
 * A connection that never began a request does not hold the server's close
 * (src/http/unused-connections.ts): Node's closeIdleConnections, which Fastify calls on
 * close, leaves it open, so close() waited for the client, or for a minute.
 */
import { connect as tcpConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from '../src/testing.ts'
import { selfSignedCertificate } from './fixtures/certificate.ts'

/** Opens a connection that sends nothing, then closes the server; resolves once both are closed. */
async function closeWithSpare(server: TestServer, open: () => Socket, event: 'connect' | 'secureConnect'): Promise<void> {
  const socket = open()
  const closed = new Promise<void>(resolve => socket.once('close', () => resolve()))
  await new Promise<void>((resolve, reject) => socket.once(event, resolve).once('error', reject))
  // The client never leaves: without the server cutting the connection, close() would wait for it.
  await server.close()
  await closed
}

describe('closing with a connection that never sent a request', () => {
  it('closes it and closes, over plain HTTP', async () => {
    const server = await startTestServer()
    const { hostname, port } = new URL(server.httpUrl)
    await closeWithSpare(server, () => tcpConnect(Number(port), hostname), 'connect')
  })

  it('closes it and closes, over TLS', async () => {
    const { key, cert } = await selfSignedCertificate()
    const server = await startTestServer({ tlsCert: cert, tlsKey: key })
    const { hostname, port } = new URL(server.httpUrl)
    expect(server.httpUrl).toMatch(/^https:/)
    await closeWithSpare(server, () => tlsConnect({ port: Number(port), host: hostname, ca: cert }), 'secureConnect')
  })
})
