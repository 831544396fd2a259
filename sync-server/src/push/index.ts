/**
 * Web Push for members with no device connected (docs/push.md): the subscriptions store,
 * the VAPID keys, a queue (the webhook queue with a Web Push `deliver`: its backoff and
 * dead letters, LevelDB under `<data>/push-queue` or PostgreSQL's parley_push_queue), the
 * hook on newly numbered messages, and the HTTP routes.
 */
import type { FastifyInstance } from 'fastify'
import type { HttpAuth } from '../http/auth.ts'
import { join } from 'node:path'
import type { AccessRegistry } from '../access/registry.ts'
import type { Notifications } from '../events/notifications.ts'
import type { Databases } from '../storage/databases.ts'
import type { WebhookQueue } from '../webhooks/dispatcher.ts'
import { openWebhooks } from '../webhooks/open.ts'
import { webhookAdminRoutes } from '../webhooks/routes.ts'
import type { Registry } from 'prom-client'
import { pushMetrics } from './metrics.ts'
import { pushToOfflineDevices } from './offline-devices.ts'
import type { ResolvedPushOptions } from './options.ts'
import { PostgresPushSubscriptions } from './postgres-subscriptions.ts'
import { pushRoutes } from './routes.ts'
import { pushSender } from './sender.ts'
import { LevelPushSubscriptions, type PushSubscriptionStore } from './subscriptions.ts'
import { vapidKeys } from './vapid.ts'
import type { OnlineOf } from '../webhooks/offline-members.ts'

export type { PushOptions, ResolvedPushOptions } from './options.ts'
export type { PushPayload } from './payload.ts'

export interface PushContext {
  options: ResolvedPushOptions
  dataDir: string
  databases: Pick<Databases, 'postgres' | 'registryDb'>
  /** Newly numbered events, and those a node numbered and may not have notified (events/notifications.ts). */
  notifications: Pick<Notifications, 'add'>
  registry: AccessRegistry
  online: OnlineOf
  title: (conversationId: string, member: string) => Promise<string | undefined>
  /** The server's metrics registry (metrics.ts); none in tests that do not count. */
  metrics?: Registry
  /** A cluster: every node must sign with the same VAPID keys. */
  clustered: boolean
  log: PushLog
}

interface PushLog {
  warn(obj: object, msg: string): void
  info(obj: object, msg: string): void
  child?(bindings: object): PushLog
}

export interface WebPush {
  readonly publicKey: string
  readonly queue: WebhookQueue
  readonly store: PushSubscriptionStore
  /** The subscription routes, and the queue's admin routes under /v1/admin/push (as /v1/admin/webhooks). */
  routes(app: FastifyInstance, auth: Pick<HttpAuth, 'authenticate' | 'requireAdmin'>): void
  close(): Promise<void>
}

export async function openWebPush(ctx: PushContext): Promise<WebPush> {
  const { options, databases } = ctx
  // The queue's lines say "webhook …" (webhooks/dispatcher.ts); this one's carry queue: push.
  const log = ctx.log.child?.({ queue: 'push' }) ?? ctx.log
  const vapid = await vapidKeys(ctx.dataDir, { publicKey: options.vapidPublicKey, privateKey: options.vapidPrivateKey })
  if (vapid.generated) log.info({ path: vapid.generated }, 'generated a VAPID key pair for Web Push')
  if (ctx.clustered && options.vapidPublicKey === undefined) log.warn({}, 'Web Push in a cluster: give every node the same --vapid-public-key and --vapid-private-key, or subscriptions made through one node fail on the others')
  if (options.subjectDefaulted) log.info({}, `no --vapid-subject: push services are told ${options.vapidSubject}; give a mailto: or https: contact`)
  let opened: WebhookQueue | undefined
  const counted = ctx.metrics && pushMetrics(ctx.metrics, () => opened)
  const store: PushSubscriptionStore = databases.postgres ? new PostgresPushSubscriptions(databases.postgres) : new LevelPushSubscriptions(databases.registryDb!)
  const queue = await openWebhooks({
    dir: join(ctx.dataDir, 'push-queue'),
    ...(databases.postgres && { postgres: databases.postgres, table: 'parley_push_queue' as const }),
    deliver: pushSender({ store, vapid, options, log, ...(counted && { counted }) }),
    maxAttempts: options.maxAttempts,
    timeoutMs: options.timeoutMs,
    ...(options.backoff && { backoff: options.backoff }),
    log,
  })
  opened = queue
  pushToOfflineDevices({ notifications: ctx.notifications, registry: ctx.registry, queue, store, online: ctx.online, title: ctx.title, text: options.text })
  return {
    publicKey: vapid.publicKey,
    queue,
    store,
    routes: (app, auth) => {
      pushRoutes(app, { store, publicKey: vapid.publicKey, options, authenticate: auth.authenticate })
      webhookAdminRoutes(app, queue, auth.requireAdmin, '/v1/admin/push', 'Web Push')
    },
    close: () => queue.close(),
  }
}
