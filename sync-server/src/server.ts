/**
 * The sync server: fastify for HTTP(S), a `noServer` ws on the upgrade event for
 * `GET /sync`, one automerge-repo Repo over LevelDB, the access registry and guard
 * that decide who reads and writes what, and the inbox keeper.
 */
import { encodeHeads, Repo, type DocumentId, type PeerId } from '@automerge/automerge-repo'
import { closableStorage, DEFAULT_LIMITS, sortUnique, type ParleyEvent } from '@parley/core'
import swagger from '@fastify/swagger'
import Fastify, { type FastifyInstance } from 'fastify'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { WebSocketServer } from 'ws'
import { SyncGuard } from './access/guard.ts'
import { AccessRegistry, rolesOf } from './access/registry.ts'
import { developmentSecret } from './auth/dev-secret.ts'
import { createTokenVerifier, type TokenVerifier } from './auth/tokens.ts'
import { resolveServerOptions, type ResolvedServerOptions, type ServerOptions } from './config.ts'
import { idempotencySecret } from './conversations/idempotency.ts'
import { ConversationService } from './conversations/service.ts'
import { ConversationWatch } from './conversations/watch.ts'
import { EventIndex } from './events/event-index.ts'
import { Notifications } from './events/notifications.ts'
import { httpAuth } from './http/auth.ts'
import { openBlobs } from './blobs/index.ts'
import { registerRoutes } from './http/routes.ts'
import { closingOf } from './http/closing.ts'
import { closeUnusedConnectionsOnClose } from './http/unused-connections.ts'
import { clientErrorHandler, installErrorHandlers } from './http/error-handlers.ts'
import { InboxKeeper } from './inbox.ts'
import { ServerMetrics } from './metrics/metrics.ts'
import { instrumentStorage } from './metrics/storage.ts'
import { ParleyServerAdapter } from './network/server-adapter.ts'
import { RelayHub } from './relay/hub.ts'
import type { WebhookQueue } from './webhooks/dispatcher.ts'
import { openWebhooks } from './webhooks/open.ts'
import { notifyOfflineMembers } from './webhooks/offline-members.ts'
import { webhookAdminRoutes } from './webhooks/routes.ts'
import { openWebPush, type WebPush } from './push/index.ts'
import { openModeration } from './moderation/open.ts'
import { moderationAdminRoutes } from './moderation/routes.ts'
import { acceptUpgrades } from './network/upgrade.ts'
import { createCluster } from './cluster/cluster.ts'
import { ClusterPresence, onlineAnywhere } from './cluster/presence.ts'
import { RedisChangeBus } from './cluster/change-bus.ts'
import { changeBusMetrics } from './cluster/change-bus-metrics.ts'
import { PostgresReadiness } from './cluster/postgres-readiness.ts'
import { DocumentEvictor } from './documents/eviction.ts'
import { forgetDisconnectedPeers } from './documents/repo-maps.ts'
import { logSyncStateResets } from './documents/sync-loops.ts'
import { openDatabases } from './storage/databases.ts'
import { devTokenRoute } from './http/dev-token.ts'
import { serveWebApp } from './http/static.ts'
import { loggerOptions, logRequests, requestLogController } from './logging.ts'
import { openEventPublisher, openIngest } from './ingest/open.ts'
import { ingestTarget } from './ingest/target.ts'

/** How long a handle may wait, unused, for a peer to send the document it claimed (documents/eviction.ts). */
const REQUEST_TIMEOUT_MS = 10_000

export interface ParleyServer {
  readonly app: FastifyInstance
  readonly repo: Repo
  readonly options: ResolvedServerOptions
  /** The HS256 secret tokens are verified with (configured or development); undefined with a public key or JWKS. */
  readonly secret: string | undefined
  /** Every documented HTTP route as `METHOD /path` (fastify's `:param` form). */
  readonly routes: readonly string[]
  /** `ws(s)://HOST:PORT/sync` once listening. */
  readonly url: string
  listen(): Promise<string>
  /**
   * The server's own copy of a document, for tests and tools: a segment rebuilt from the
   * relay core's change log, anything else from the repo while it is loaded; undefined
   * when the server holds none of it.
   */
  storedDoc<T>(documentId: string): Promise<T | undefined>
  /** Graceful: close sockets, flush every loaded document, close LevelDB. */
  close(): Promise<void>
}

async function tokenVerifier(options: ResolvedServerOptions, log: FastifyInstance['log']): Promise<{ verify: TokenVerifier; secret?: string }> {
  const { jwtPublicKey, jwksUrl, jwtAudience: audience, jwtIssuer: issuer, maxTokenLifetimeSeconds: maxLifetimeSeconds } = options
  if (jwtPublicKey !== undefined) return { verify: await createTokenVerifier({ publicKey: jwtPublicKey, audience, issuer, maxLifetimeSeconds }) }
  if (jwksUrl !== undefined) return { verify: await createTokenVerifier({ jwksUrl, audience, issuer, maxLifetimeSeconds }) }
  let secret = options.jwtSecret
  if (secret === undefined) {
    const dev = await developmentSecret(options.dataDir)
    secret = dev.secret
    log.warn({ path: dev.path }, `no --jwt-secret configured: using the development secret in ${dev.path}; mint tokens with \`parley-server token <userId>\`. Do not use it in production.`)
  }
  return { verify: await createTokenVerifier({ secret, audience, issuer, maxLifetimeSeconds }), secret }
}

export async function createParleyServer(input: ServerOptions = {}): Promise<ParleyServer> {
  const options = resolveServerOptions(input)
  const https = options.tlsCert === undefined ? null : { cert: options.tlsCert, key: options.tlsKey }
  const app = Fastify({
    // Readable or JSON lines, requests at debug, no credential in any line: logging.ts.
    logger: loggerOptions({ level: options.logLevel, format: options.logFormat }),
    logController: requestLogController(),
    https,
    clientErrorHandler,
    // Unknown fields are an error, not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
  }) as unknown as FastifyInstance
  logRequests(app)
  // Long polls, SSE streams, downloads and connections that never began a request end as
  // the close begins, which would otherwise wait for them.
  const closing = closingOf(app)
  closeUnusedConnectionsOnClose(app, closing)
  const log = app.log
  const { verify, secret } = await tokenVerifier(options, log)
  const limits = { ...DEFAULT_LIMITS, maxTextBytes: options.maxTextBytes }

  // Gauges read at scrape time, once repo, storage and webhooks exist.
  const metrics = new ServerMetrics({
    documentsLoaded: () => Object.keys(repo.handles).length + (hub?.loadedCount ?? 0),
    webhookQueueDepth: () => webhooks?.stats().queued ?? 0,
    storageStatus: () => databases.status(),
  })
  const databases = await openDatabases(options.dataDir, {
    retryMs: options.storageRetryMs,
    maxHeldBytes: options.maxHeldWriteBytes,
    minFreeBytes: options.minFreeBytes,
    postgres: options.postgres,
    log,
    metrics,
  })
  const storage = closableStorage(instrumentStorage(databases.documents, metrics), () => databases.close())
  const registry = new AccessRegistry(databases.registry)
  // A cluster on PostgreSQL with the relay core: segment changes cross nodes by interest (relay/bus.ts);
  // a node with long polls or SSE streams on a conversation listens on it too (events/event-index.ts follow).
  const changeBus: RedisChangeBus | undefined = options.relayCore && options.redis !== undefined ? new RedisChangeBus({ url: options.redis, metrics: changeBusMetrics(metrics.register, () => hub?.loadedCount ?? 0), log }) : undefined
  // With webhooks, Web Push, moderation or --publish-events, what is numbered is listed as not notified in the same write, until done (events/notifications.ts).
  const notifying = options.webhookUrl !== undefined || options.push !== false || options.moderationWords !== undefined || options.moderationHook !== undefined || options.publishEvents !== undefined
  const index = new EventIndex(databases.events, { ...(changeBus && { feed: changeBus }), notify: notifying, log })
  const notifications = notifying ? new Notifications(index, databases.events, { log }) : undefined
  changeBus?.onNews(conversationId => void index.news(conversationId).catch(error => log.warn({ err: error, conversationId }, 'could not read events numbered on other nodes')))
  // Cluster mode: the other nodes are trusted automerge-repo peers over the Redis bus (docs/cluster.md).
  const cluster = options.redis === undefined ? undefined : createCluster({ redisUrl: options.redis, heartbeatMs: options.clusterHeartbeatMs, registry, metrics: metrics.register, log, sharedRegistry: options.postgres !== undefined })

  let guard: SyncGuard | undefined
  // With the relay core, segments are change logs served by the hub, not repo documents (relay/hub.ts).
  const recordEvents = (conversationId: string, _segmentId: string, events: ParleyEvent[]): Promise<unknown> =>
    index.record(conversationId, sortUnique(events)).catch(error => log.error({ err: error, conversationId }, 'could not number events'))
  const hub: RelayHub | undefined = options.relayCore
    ? new RelayHub({
        storage: storage.adapter,
        registry,
        limits,
        index,
        send: message => adapter.send(message),
        peerId: () => adapter.peerId!,
        idleMs: options.documentIdleMs,
        maxLoaded: options.maxLoadedDocuments,
        // Heard from another node over the bus: numbered there (published first, numbered
        // right after: relay/bus-outbox.ts); this node's streams hear of it through the feed
        // (changeBus.onNews above), so the index is not written per message on every
        // listening node. Read back from storage: numbered again if need be (idempotent by
        // ID), as on a load.
        hooks: { loaded: recordEvents, accepted: recordEvents, reloaded: recordEvents },
        log,
        ...(changeBus && { bus: changeBus }),
      })
    : undefined
  // Who is connected to any node, for the notifications owed to members who are not (cluster/presence.ts).
  const presence =
    cluster && options.redis !== undefined
      ? new ClusterPresence({ url: options.redis, self: () => cluster.adapter.peerId, nodes: () => cluster.adapter.nodes, local: () => adapter.users(), heartbeatMs: options.clusterHeartbeatMs, log })
      : undefined
  const adapter: ParleyServerAdapter = new ParleyServerAdapter({
    maxFrameBytes: options.maxFrameBytes,
    keepAliveMs: options.keepAliveMs,
    rate: { perSecond: options.messagesPerSecond, burst: options.messageBurst },
    maxBufferedBytes: options.maxBufferedBytes,
    metrics,
    inspect: (message, connection, charge) => guard!.inspect(message, connection.user, charge),
    relay: hub,
    ...(presence && { presence: { connected: user => presence.connected(user), disconnected: user => presence.disconnected(user) } }),
    mayReceive: (user, documentId) => registry.canRead(user, documentId),
    headsOf: async (documentIds, connection) => {
      const heads: Record<string, string[] | null> = {}
      for (const id of documentIds) {
        if (hub && (await hub.serves(id))) {
          const logHeads = (await registry.mayRead(connection.user, id)) ? await hub.heads(id) : null
          // As the repo's handle.heads() gives them: base58 (automerge-repo's UrlHeads).
          heads[id] = logHeads && encodeHeads(logHeads)
          continue
        }
        const handle = repo.handles[id as DocumentId]
        heads[id] = (await registry.mayRead(connection.user, id)) && handle?.isReady() ? [...handle.heads()] : null
      }
      return heads
    },
  })
  const online = (users: readonly string[]) => onlineAnywhere(users, user => adapter.connectionsOf(user) > 0, presence)
  const repo: Repo = new Repo({
    storage: storage.adapter,
    network: cluster ? [adapter, cluster.adapter] : [adapter],
    peerId: `parley-server-${randomBytes(4).toString('hex')}` as PeerId,
    // Never push documents to clients unasked; answer only what the asking user may read.
    // `access` runs for every peer on every message: a cached lookup, never a document load.
    // The other nodes of a cluster get everything, unasked: their clients' changes passed their guard.
    shareConfig: {
      announce: async peerId => cluster?.isNode(peerId) ?? false,
      access: async (peerId, documentId) => {
        if (cluster?.isNode(peerId)) return true
        const user = peerId && adapter.userOfPeer(peerId)
        // Another node's client: only its typing reaches us, relayed by its node under the
        // client's own peer ID (so each node drops copies it already had). Nothing is ever
        // sent to a peer with no connection here: saying yes shares nothing.
        if (cluster && peerId && !user) return cluster.relayedAuthor(peerId)
        if (!user || !documentId) return false
        // The registry may have to read PostgreSQL, which may be down: automerge-repo calls
        // this where a rejection is not handled (a peer joining, a document added), so a
        // failed read answers "no access", as for a document the user may not read.
        try {
          return await registry.mayRead(user, documentId)
        } catch (error) {
          log.warn({ err: error, documentId }, 'could not read the registry to share a document; not shared')
          return false
        }
      },
    },
  })
  if (hub) adapter.on('peer-disconnected', ({ peerId }) => hub.peerLeft(peerId))
  guard = new SyncGuard(repo, registry, limits, storage.adapter, index)
  const keeper = new InboxKeeper(repo, storage.adapter, registry, log, documentId => evictor.hold(documentId))
  const watch = new ConversationWatch(repo, {
    head(conversationId, head, removed) {
      registry.setMembers(conversationId, rolesOf(head)).then(
        // Only this conversation's documents: a full reevaluation is O(documents × peers).
        changed => changed && repo.shareConfigChanged([conversationId, ...head.segments] as DocumentId[]),
        error => log.error({ err: error, conversationId }, 'could not record membership'),
      )
      void keeper.update(conversationId, head, removed)
    },
    events(conversationId, _segmentId, events) {
      index.record(conversationId, sortUnique(events)).catch(error => log.error({ err: error, conversationId }, 'could not number events'))
    },
  })
  // Idle documents are saved and unloaded (documents/eviction.ts); the watch follows them afresh when they load again.
  const evictor = new DocumentEvictor(repo, {
    maxLoaded: options.maxLoadedDocuments,
    idleMs: options.documentIdleMs,
    minIdleMs: Math.min(1000, options.documentIdleMs || 1000),
    sweepMs: options.documentIdleMs > 0 ? Math.min(5000, Math.max(50, Math.floor(options.documentIdleMs / 2))) : 1000,
    // A client that claims a document and never sends it holds a handle this long at most.
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    onEvicted: documentId => {
      watch.forget(documentId)
      registry.forget(documentId)
      index.forget(documentId)
      metrics.documentEvicted()
    },
    // A handle nobody had (e.g. a request for a random ID): nothing was loaded, nothing is kept.
    onDropped: documentId => {
      watch.forget(documentId)
      // A new segment's first sync message (no changes yet) reaches the repo, which keeps a
      // handle that never loads: the hub serves the segment, and forwarding its changes
      // reads the registry's cache (mayReceive), so its entry stays while the hub holds it.
      if (hub?.serves(documentId) !== true) registry.forget(documentId)
    },
    onError: (error, documentId) => log.warn({ err: error, documentId }, 'could not unload an idle document'),
  })
  evictor.start()
  forgetDisconnectedPeers(repo)
  logSyncStateResets(repo, log)
  const service = new ConversationService({ repo, segments: hub, registry, index, watch, limits, hold: documentId => evictor.hold(documentId), idempotencySecret: options.idempotencySecret ?? (await idempotencySecret(options.dataDir)) })
  // Off the delivery path: reviews what was numbered, writes the server's decisions (docs/moderation.md).
  const moderation = await openModeration(options, { index, notifications: notifications!, write: (conversationId, body, after, key) => service.appendAsServer(conversationId, body, after, key), log })
  const auth = httpAuth(verify)
  // Attachments: tus uploads, the blob store, downloads for members (blobs/, docs/attachments.md).
  const blobs = await openBlobs({ dataDir: options.dataDir, options, index, authenticate: auth.authenticate, isMember: async (conversationId, user) => registry.mayRead(user, conversationId), log })
  // Messages from RabbitMQ or NATS written as HTTP publish writes them (docs/ingest.md); consuming starts once listening.
  const ingest = options.ingest === undefined
    ? undefined
    : openIngest({ url: options.ingest, name: options.ingestName, prefetch: options.ingestPrefetch, systemUser: options.ingestSystemUser, limits, register: metrics.register, log,
        target: ingestTarget({ service, registry, ...(moderation && { moderation: moderation.policy }), writable: () => databases.status().writable }) })
  // Every event numbered here, to a broker: an alternative to webhooks (docs/ingest.md "Publishing events").
  const publisher = options.publishEvents === undefined ? undefined : openEventPublisher({ url: options.publishEvents, name: options.ingestName, register: metrics.register, log })
  if (publisher) notifications!.add((conversationId, events) => publisher.publish(conversationId, events))
  // With --postgres the queue is in PostgreSQL, shared by the cluster's nodes (webhooks/postgres-dispatcher.ts).
  const webhooks: WebhookQueue | undefined = options.webhookUrl
    ? await openWebhooks({ dir: join(options.dataDir, 'webhooks'), ...(databases.postgres && { postgres: databases.postgres }), url: options.webhookUrl, secret: options.webhookSecret!, log })
    : undefined
  index.on('stored', (_conversationId, events) => metrics.eventsStored(events.length))
  webhooks?.on('retry', () => metrics.webhookRetried())
  webhooks?.on('dead-letter', () => metrics.webhookDeadLettered())
  // Web Push to each device of members with no device connected (push/, docs/push.md).
  const push: WebPush | undefined =
    options.push === false
      ? undefined
      : await openWebPush({
          options: options.push,
          dataDir: options.dataDir,
          databases,
          notifications: notifications!,
          registry,
          online,
          title: async (conversationId, member) => (await service.open(conversationId, member)).head.title || undefined,
          clustered: options.redis !== undefined,
          metrics: metrics.register,
          log,
        })
  if (webhooks) notifyOfflineMembers({ notifications: notifications!, registry, dispatcher: webhooks, online })
  // Both queues are open: newly numbered events go to them, and what was numbered but not notified before (a crash) too.
  notifications?.start()

  // ws enforces twice our limit as a hard cap; up to it, our own check answers 4413.
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxFrameBytes * 2 })
  acceptUpgrades({ server: app.server, wss, adapter, verify, options, log })

  installErrorHandlers(app)
  const routes: string[] = []
  app.addHook('onRoute', route => {
    if (route.schema?.hide) return
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push(`${method} ${route.url}`)
  })
  await app.register(swagger, {
    openapi: {
      info: { title: 'Parley sync server', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  })
  // With --postgres: is the shared database answering (cluster/postgres-readiness.ts)?
  const postgresReadiness = databases.postgres && new PostgresReadiness(databases.postgres, { everyMs: 1000, timeoutMs: 2000, log })
  const readiness = () => {
    const storageStatus = databases.status()
    const postgres = postgresReadiness?.status()
    return { ready: storageStatus.writable && (postgres?.reachable ?? true), storage: storageStatus, ...(postgres && { postgres }) }
  }
  app.get('/healthz', { schema: { tags: ['server'], summary: 'Liveness, readiness and open connections' } }, async () => {
    const { ready, storage: storageStatus, ...postgres } = readiness()
    return { status: 'ok', ready, connections: adapter.connectionCount, storage: storageStatus, ...postgres, ...(cluster && { cluster: cluster.status() }) }
  })
  // 503 while storage holds writes it could not put on disk (e.g. disk full), or PostgreSQL does not answer: still serving, not ready.
  app.get('/readyz', { schema: { tags: ['server'], summary: 'Readiness: 503 while storage refuses writes or PostgreSQL does not answer' } }, async (_request, reply) => {
    const status = readiness()
    return reply.code(status.ready ? 200 : 503).send(status)
  })
  registerRoutes(app, {
    service,
    index,
    inboxes: keeper,
    auth,
    onLongPoll: waiting => (waiting > 0 ? metrics.longPollStarted() : metrics.longPollEnded()),
    // HTTP writes spend the same per-user budget as sync messages (http/write-budget.ts).
    writeBudget: { rates: adapter.rates, perSecond: options.messagesPerSecond },
    maxBufferedBytes: options.maxBufferedBytes,
    ...(moderation && { moderation: moderation.policy }),
    closing,
  })
  blobs.register(app, closing)
  // Counts only, no user IDs: unauthenticated like /healthz, for the scraper.
  app.get('/metrics', { schema: { tags: ['server'], summary: 'Prometheus metrics' } }, async (_request, reply) => reply.type(metrics.contentType).send(await metrics.text()))
  if (webhooks) webhookAdminRoutes(app, webhooks, auth.requireAdmin)
  push?.routes(app, auth)
  if (moderation) moderationAdminRoutes(app, moderation.moderator, moderation.store, auth.requireAdmin)
  app.get('/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  // Development sign-in exists only on the generated development secret (no token option given).
  const development = options.jwtSecret === undefined && options.jwtPublicKey === undefined && options.jwksUrl === undefined
  if (development && secret !== undefined) {
    devTokenRoute(app, secret, { maxLifetimeSeconds: options.maxTokenLifetimeSeconds })
    log.warn('development sign-in is on: POST /v1/dev/token answers a token for any user name to requests from this machine')
  }
  // The web app at `/`, when clients/web has been built.
  if (await serveWebApp(app)) log.info('serving the web app at /')

  let url = ''
  return {
    app,
    repo,
    options,
    secret,
    routes,
    get url() {
      return url
    },
    async storedDoc<T>(documentId: string) {
      if (hub && (await hub.serves(documentId))) return hub.document<T>(documentId)
      const handle = repo.handles[documentId as DocumentId]
      return handle?.isReady() ? (handle.doc() as T) : undefined
    },
    async listen() {
      // automerge-repo hands the adapter its peer ID asynchronously; a join before that
      // would be answered without a sender.
      await adapter.whenConnected()
      // A node joining a cluster first meets the others (or gives up waiting for Redis).
      await cluster?.adapter.whenReady()
      const address = await app.listen({ host: options.host, port: options.port })
      url = `${address.replace(/^http/, 'ws')}/sync`
      await ingest?.start()
      return url
    },
    async close() {
      // First: nothing is written while the rest closes; what it holds unacknowledged goes back to the broker.
      await ingest?.close()
      await evictor.stop()
      adapter.disconnect()
      wss.close()
      await app.close()
      await blobs.close()
      // Reviews already queued write their decisions while the documents are still open.
      await moderation?.close()
      await presence?.close()
      await cluster?.close()
      // Only documents that loaded: flushing one that never became available throws.
      const ready = Object.values(repo.handles).filter(handle => handle.isReady())
      await repo.flush(ready.map(handle => handle.documentId as DocumentId))
      await hub?.close()
      await changeBus?.close()
      index.close()
      await publisher?.close()
      await notifications?.close()
      await webhooks?.close()
      await push?.close()
      postgresReadiness?.stop()
      // Closes the databases (documents with the index, registry): storage/databases.ts.
      await storage.close()
      metrics.close()
    },
  }
}
