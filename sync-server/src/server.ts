/**
 * The sync server: fastify for HTTP, a `noServer` ws on the upgrade event for
 * `GET /sync`, one automerge-repo Repo over LevelDB, and the inbox keeper.
 */
import { Repo, type DocumentId, type PeerId } from '@automerge/automerge-repo'
import { closableStorage, LevelStorageAdapter, type LevelDatabase } from '@parley/core'
import Fastify, { type FastifyInstance } from 'fastify'
import { Level } from 'level'
import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import { developmentSecret } from './auth/dev-secret.ts'
import { hs256Verifier, type Identity, type TokenVerifier } from './auth/tokens.ts'
import { resolveServerOptions, type ResolvedServerOptions, type ServerOptions } from './config.ts'
import { ServerErrorCodes } from './errors.ts'
import { InboxKeeper } from './inbox.ts'
import { ParleyServerAdapter } from './network/server-adapter.ts'

export interface ParleyServer {
  readonly app: FastifyInstance
  readonly repo: Repo
  readonly options: ResolvedServerOptions
  /** The HS256 secret tokens are verified with (configured or development). */
  readonly secret: string
  /** `ws://HOST:PORT/sync` once listening. */
  readonly url: string
  listen(): Promise<string>
  /** Graceful: close sockets, flush every loaded document, close LevelDB. */
  close(): Promise<void>
}

function refuseUpgrade(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } })
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Not Found'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  )
}

function bearerToken(request: IncomingMessage, url: URL): string | undefined {
  const header = request.headers.authorization
  if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length)
  return url.searchParams.get('token') ?? undefined
}

export async function createParleyServer(input: ServerOptions = {}): Promise<ParleyServer> {
  const options = resolveServerOptions(input)
  const app = Fastify({ logger: { level: options.logLevel } })
  const log = app.log
  let secret = options.jwtSecret
  if (secret === undefined) {
    const dev = await developmentSecret(options.dataDir)
    secret = dev.secret
    log.warn({ path: dev.path }, `no --jwt-secret configured: using the development secret in ${dev.path}; mint tokens with \`parley-server token <userId>\`. Do not use it in production.`)
  }
  const verify: TokenVerifier = hs256Verifier(secret)

  const db = new Level<string, Uint8Array>(join(options.dataDir, 'db'), { valueEncoding: 'view' })
  await db.open()
  const storage = closableStorage(new LevelStorageAdapter(db as unknown as LevelDatabase), () => db.close())

  let inboxes: InboxKeeper | undefined
  const adapter: ParleyServerAdapter = new ParleyServerAdapter({
    maxFrameBytes: options.maxFrameBytes,
    keepAliveMs: options.keepAliveMs,
    onJoin: connection => void inboxes?.inbox(connection.user).catch(error => connection.log.warn({ err: error }, 'could not open inbox')),
    // Next issue: only documents the connection's user may read.
    headsOf: (documentIds): Record<string, string[] | null> =>
      Object.fromEntries(
        documentIds.map(id => {
          const handle = repo.handles[id as DocumentId]
          return [id, handle?.isReady() ? [...handle.heads()] : null]
        }),
      ),
  })
  const repo: Repo = new Repo({
    storage: storage.adapter,
    network: [adapter],
    peerId: `parley-server-${randomBytes(4).toString('hex')}` as PeerId,
    // Never push documents to clients unasked; answer what they request. The next issue
    // replaces `access` with the per-conversation membership check.
    shareConfig: { announce: async () => false, access: async () => true },
  })
  inboxes = new InboxKeeper(repo, storage.adapter, log)
  const keeper = inboxes
  repo.synchronizer.on('open-doc', ({ documentId }) => keeper.observe(documentId))

  // ws enforces twice our limit as a hard cap; up to it, our own check answers 4413.
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxFrameBytes * 2 })
  let connectionCount = 0
  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(request.url ?? '/', 'http://localhost')
    if (url.pathname !== '/sync') return refuseUpgrade(socket, 404, ServerErrorCodes.NOT_FOUND, 'WebSocket sync lives at /sync')
    const token = bearerToken(request, url)
    if (!token) return refuseUpgrade(socket, 401, ServerErrorCodes.UNAUTHENTICATED, 'a token is required: /sync?token=JWT')
    verify(token).then(
      (identity: Identity) =>
        wss.handleUpgrade(request, socket, head, ws => adapter.accept(ws, identity.user, log.child({ user: identity.user, connection: ++connectionCount }))),
      (error: Error) => refuseUpgrade(socket, 401, ServerErrorCodes.UNAUTHENTICATED, error.message),
    )
  })

  app.get('/healthz', async () => ({ status: 'ok', connections: adapter.connectionCount }))

  let url = ''
  return {
    app,
    repo,
    options,
    secret,
    get url() {
      return url
    },
    async listen() {
      const address = await app.listen({ host: options.host, port: options.port })
      url = `${address.replace(/^http/, 'ws')}/sync`
      return url
    },
    async close() {
      adapter.disconnect()
      wss.close()
      await app.close()
      // Only documents that loaded: flushing one that never became available throws.
      const ready = Object.values(repo.handles).filter(handle => handle.isReady())
      await repo.flush(ready.map(handle => handle.documentId as DocumentId))
      await storage.close()
    },
  }
}
