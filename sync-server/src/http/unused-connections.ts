/**
 * Connections that never began a request are closed when the server closes. Fastify
 * closes idle keep-alive connections then (Node's `closeIdleConnections`), but Node does
 * not count a connection that has not begun a request as idle: a spare connection a
 * client or a load balancer opened ahead of need held `close()` until the client let go
 * or Node's headers timeout (a minute) cut it. Connections that carried a request or a
 * WebSocket upgrade are left to end as before. With TLS a connection counts once its
 * handshake is done (one still in its handshake when the server closes holds the close
 * until Node's TLS handshake timeout).
 */
import type { FastifyInstance } from 'fastify'
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { Server as TlsServer } from 'node:tls'
import type { Closing } from './closing.ts'

export function closeUnusedConnectionsOnClose(app: FastifyInstance, closing: Closing): void {
  /** Connections with no request yet: bounded by the open connections, each leaves when it closes or begins one. */
  const unused = new Set<Socket>()
  // With TLS the request's socket is the TLS socket, not the TCP connection under it.
  const opened = app.server instanceof TlsServer ? 'secureConnection' : 'connection'
  app.server.on(opened, (socket: Socket) => {
    // A handshake that ends after the close began.
    if (closing.closed) return void socket.destroy()
    unused.add(socket)
    socket.once('close', () => unused.delete(socket))
  })
  const used = (request: IncomingMessage): void => void unused.delete(request.socket)
  app.server.on('request', used)
  app.server.on('upgrade', used)
  closing.onClose(() => {
    for (const socket of unused) socket.destroy()
  })
}
