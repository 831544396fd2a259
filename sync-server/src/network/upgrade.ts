/**
 * `GET /sync` upgrades: the token is verified before the WebSocket exists, and the
 * per-IP and per-user connection limits apply, as does a recent 4429 (the user's message
 * bucket must be half full again: network/rate-limit.ts). A refused upgrade is answered with an
 * HTTP status and a JSON error body, as every HTTP route answers.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import type { WebSocketServer } from 'ws'
import type { TokenVerifier } from '../auth/tokens.ts'
import type { ResolvedServerOptions } from '../config.ts'
import { ServerErrorCodes } from '../errors.ts'
import type { ParleyServerAdapter } from './server-adapter.ts'

const STATUS_TEXT: Record<number, string> = { 401: 'Unauthorized', 404: 'Not Found', 413: 'Payload Too Large', 429: 'Too Many Requests' }

function refuse(socket: Duplex, status: number, code: string, message: string, retryAfterMs?: number): void {
  const body = JSON.stringify({ error: { code, message } })
  const retryAfter = retryAfterMs === undefined ? '' : `Retry-After: ${Math.ceil(retryAfterMs / 1000)}\r\n`
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${retryAfter}Connection: close\r\n\r\n${body}`,
  )
}

function bearerToken(request: IncomingMessage, url: URL): string | undefined {
  const header = request.headers.authorization
  if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length)
  return url.searchParams.get('token') ?? undefined
}

export interface UpgradeContext {
  server: Server
  wss: WebSocketServer
  adapter: ParleyServerAdapter
  verify: TokenVerifier
  options: ResolvedServerOptions
  log: FastifyBaseLogger
}

export function acceptUpgrades({ server, wss, adapter, verify, options, log }: UpgradeContext): void {
  const perIp = new Map<string, number>()
  let connectionCount = 0
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    // node's HTTP server takes its own error listener off an upgrading socket: without one,
    // a client resetting the connection while its token is checked (or while it is
    // refused) would throw ECONNRESET at the process. ws puts its own on in handleUpgrade.
    const onSocketError = (error: Error): void => {
      log.debug({ err: error }, 'upgrade socket error')
      socket.destroy()
    }
    socket.on('error', onSocketError)
    const url = new URL(request.url ?? '/', 'http://localhost')
    if (url.pathname !== '/sync') return refuse(socket, 404, ServerErrorCodes.NOT_FOUND, 'WebSocket sync lives at /sync')
    const token = bearerToken(request, url)
    if (!token) return refuse(socket, 401, ServerErrorCodes.UNAUTHENTICATED, 'a token is required: /sync?token=JWT')
    if (head.byteLength > options.maxPreAuthBytes) {
      return refuse(socket, 413, ServerErrorCodes.TOO_LARGE, `more than ${options.maxPreAuthBytes} bytes sent before authentication`)
    }
    const ip = request.socket.remoteAddress ?? 'unknown'
    if ((perIp.get(ip) ?? 0) >= options.maxConnectionsPerIp) {
      return refuse(socket, 429, ServerErrorCodes.TOO_MANY_CONNECTIONS, `more than ${options.maxConnectionsPerIp} connections from ${ip}`)
    }
    // Counted from now: a burst of upgrades waiting on token checks counts too.
    perIp.set(ip, (perIp.get(ip) ?? 0) + 1)
    socket.once('close', () => {
      const left = (perIp.get(ip) ?? 1) - 1
      if (left === 0) perIp.delete(ip)
      else perIp.set(ip, left)
    })
    // Nothing is read from the client while its token is checked (e.g. a JWKS fetch).
    socket.pause()
    verify(token).then(
      identity => {
        if (socket.destroyed) return
        const retryAfterMs = adapter.retryAfterMs(identity.user)
        if (retryAfterMs > 0) {
          return refuse(socket, 429, ServerErrorCodes.RATE_LIMITED, `rate limited: more than ${options.messagesPerSecond} messages per second from this user; retry in ${retryAfterMs} ms`, retryAfterMs)
        }
        if (adapter.connectionsOf(identity.user) >= options.maxConnectionsPerUser) {
          return refuse(socket, 429, ServerErrorCodes.TOO_MANY_CONNECTIONS, `more than ${options.maxConnectionsPerUser} connections for this user`)
        }
        socket.resume()
        socket.off('error', onSocketError)
        wss.handleUpgrade(request, socket, head, ws => {
          adapter.accept(ws, identity, log.child({ user: identity.user, connection: ++connectionCount }))
        })
      },
      (error: Error) => refuse(socket, 401, ServerErrorCodes.UNAUTHENTICATED, error.message),
    )
  })
}
