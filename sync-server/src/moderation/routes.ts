/**
 * Admin routes (the token's `"admin": true` claim, http/auth.ts requireAdmin): the
 * decisions made, a page at a time, and an operator's own decision about a message,
 * which reverses an earlier one with `allowed` (docs/moderation.md "Operators").
 */
// Type-only: brings swagger's `tags` and `summary` into FastifySchema.
import type {} from '@fastify/swagger'
import { DEFAULT_LIMITS, MODERATION_DECISIONS, type ModerationDecision } from '@parley/core'
import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify'
import { caller } from '../http/auth.ts'
import { errorBody } from '../http/schemas.ts'
import type { Moderator } from './moderator.ts'
import type { ModerationStore } from './store.ts'

const id = { type: 'string', minLength: 1, maxLength: DEFAULT_LIMITS.maxIdLength } as const
const decision = { type: 'string', enum: [...MODERATION_DECISIONS] } as const

const recordSchema = {
  type: 'object',
  properties: {
    conversationId: { type: 'string' },
    target: { type: 'string' },
    edit: { type: 'string' },
    author: { type: 'string' },
    text: { type: 'string' },
    decision: { type: 'string' },
    reason: { type: 'string' },
    source: { type: 'string' },
    entry: { type: 'string' },
    by: { type: 'string' },
    eventId: { type: 'string' },
    seq: { type: 'integer' },
    decidedAt: { type: 'integer' },
  },
  required: ['conversationId', 'target', 'author', 'text', 'decision', 'reason', 'source', 'eventId', 'seq', 'decidedAt'],
} as const

const denied = { 401: errorBody, 403: errorBody }

export function moderationAdminRoutes(app: FastifyInstance, moderator: Moderator, store: ModerationStore, requireAdmin: preHandlerAsyncHookHandler): void {
  app.get<{ Querystring: { decision?: ModerationDecision; limit: number; after?: string } }>('/v1/admin/moderation', {
    preHandler: requireAdmin,
    schema: {
      tags: ['admin'],
      summary: 'Moderation decisions in force (rejected and flagged, or those of `decision`), a page at a time: pass `next` as `after`',
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { decision, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 }, after: { type: 'string', maxLength: 1024 } },
      },
      response: { 200: { type: 'object', properties: { decisions: { type: 'array', items: recordSchema }, next: { type: 'string' } }, required: ['decisions'] }, 400: errorBody, ...denied },
    },
  }, async request => {
    const { decision: only, limit, after } = request.query
    const { records, next } = await store.list(only ? [only] : ['rejected', 'flagged'], limit, after)
    return next === undefined ? { decisions: records } : { decisions: records, next }
  })

  app.post<{ Body: { conversationId: string; target: string; edit?: string; decision: ModerationDecision; reason?: string } }>('/v1/admin/moderation/decisions', {
    preHandler: requireAdmin,
    schema: {
      tags: ['admin'],
      summary: 'Decide about a message (or one edit of it): `allowed` reverses an earlier decision. The server appends a `moderated` event',
      body: {
        type: 'object',
        additionalProperties: false,
        properties: { conversationId: id, target: id, edit: id, decision, reason: { type: 'string', maxLength: 200 } },
        required: ['conversationId', 'target', 'decision'],
      },
      response: { 201: recordSchema, 400: errorBody, 404: errorBody, ...denied },
    },
  }, async (request, reply) => {
    const { conversationId, target, edit, decision: decided, reason } = request.body
    const record = await moderator.decide(caller(request).user, conversationId, target, decided, reason ?? defaultReason(decided), edit)
    return reply.code(201).send(record)
  })
}

function defaultReason(decision: ModerationDecision): string {
  return decision === 'allowed' ? 'restored by a moderator' : decision === 'rejected' ? 'removed by a moderator' : 'flagged by a moderator'
}
