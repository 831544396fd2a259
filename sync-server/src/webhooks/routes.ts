/**
 * Admin routes to watch webhook delivery and replay dead letters once a receiver is
 * fixed. Every route needs the caller's `requireAdmin` preHandler.
 */
// Type-only: brings swagger's `tags` and `summary` into FastifySchema.
import type {} from '@fastify/swagger'
import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify'
import { ServerErrorCodes } from '../errors.ts'
import type { WebhookQueue } from './dispatcher.ts'

const errorSchema = {
  type: 'object',
  properties: {
    error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } }, required: ['code', 'message'] },
  },
  required: ['error'],
} as const

const count = { type: 'integer', minimum: 0 } as const
const statsSchema = {
  type: 'object',
  properties: { queued: count, held: count, inFlight: count, retries: count, deadLetters: count, delivered: count },
  required: ['queued', 'held', 'inFlight', 'retries', 'deadLetters', 'delivered'],
} as const

const notificationSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    conversationId: { type: 'string' },
    seq: { type: 'integer' },
    event: { type: 'object', additionalProperties: true },
    recipients: { type: 'array', items: { type: 'string' } },
    priority: { type: 'string', enum: ['high', 'normal', 'low'] },
    attempts: count,
    enqueuedAt: { type: 'integer' },
    lastError: { type: 'string' },
  },
  required: ['id', 'conversationId', 'seq', 'event', 'recipients', 'priority', 'attempts', 'enqueuedAt'],
} as const

/** Dispatcher IDs are lower-case base36 and hex; anything else cannot name a dead letter. */
const idParams = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^[0-9a-z]{1,64}$' } },
  required: ['id'],
  additionalProperties: false,
} as const

/** Admin errors (401/403) come from `requireAdmin` in the same `{ error }` shape. */
const denied = { 401: errorSchema, 403: errorSchema }

/** `base` and `what` name the queue: the Web Push queue has the same routes under /v1/admin/push (push/index.ts). */
export function webhookAdminRoutes(app: FastifyInstance, dispatcher: WebhookQueue, requireAdmin: preHandlerAsyncHookHandler, base = '/v1/admin/webhooks', what = 'Webhook'): void {
  app.get(base, {
    preHandler: requireAdmin,
    schema: {
      tags: ['admin'],
      summary: `${what} delivery counters`,
      response: { 200: { type: 'object', properties: { stats: statsSchema }, required: ['stats'] }, ...denied },
    },
  }, async () => ({ stats: dispatcher.stats() }))

  app.get<{ Querystring: { limit: number; after?: string } }>(`${base}/dead-letters`, {
    preHandler: requireAdmin,
    schema: {
      tags: ['admin'],
      summary: `${what} notifications that exhausted their attempts, a page at a time: pass \`next\` as \`after\``,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 }, after: idParams.properties.id },
      },
      response: {
        200: { type: 'object', properties: { deadLetters: { type: 'array', items: notificationSchema }, next: { type: 'string' } }, required: ['deadLetters'] },
        ...denied,
      },
    },
  }, async request => {
    const { limit, after } = request.query
    // One more than the page says whether there is a next one.
    const page = await dispatcher.deadLetters({ limit: limit + 1, after })
    const deadLetters = page.slice(0, limit)
    return page.length > limit ? { deadLetters, next: deadLetters.at(-1)!.id } : { deadLetters }
  })

  app.post<{ Params: { id: string } }>(`${base}/dead-letters/:id/replay`, {
    preHandler: requireAdmin,
    schema: {
      tags: ['admin'],
      summary: 'Queue a dead letter again, its attempts reset',
      params: idParams,
      response: {
        202: { type: 'object', properties: { replayed: { type: 'string' } }, required: ['replayed'] },
        404: errorSchema,
        ...denied,
      },
    },
  }, async (request, reply) => {
    const { id } = request.params
    if (!(await dispatcher.replay(id))) {
      return reply.code(404).send({ error: { code: ServerErrorCodes.NOT_FOUND, message: `no dead letter ${id}` } })
    }
    return reply.code(202).send({ replayed: id })
  })
}
