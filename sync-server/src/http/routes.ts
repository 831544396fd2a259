/**
 * REST v1: conversations, members, server-side publish, history by server sequence with
 * long polling, and the SSE stream. Every route authenticates with the same bearer
 * tokens as sync and checks the same membership rule (the access registry).
 */
import { bareDocumentId, isValidUserId, readInbox, RESERVED_USER_PREFIX, type ConversationKind, type Head, type Role } from '@parley/core'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ConversationService } from '../conversations/service.ts'
import { ParleyError, ServerErrorCodes } from '../errors.ts'
import type { EventIndex, SequencedEvent } from '../events/event-index.ts'
import type { InboxKeeper } from '../inbox.ts'
import { caller, type HttpAuth } from './auth.ts'
import * as schemas from './schemas.ts'
import { spendWriteToken, type WriteBudget } from './write-budget.ts'
import type { ContentPolicy } from '../moderation/policy.ts'
import { screenPublish } from '../moderation/publish-check.ts'
import type { Closing } from './closing.ts'
import { streamEvents, waitForEvents } from './stream.ts'

export interface RouteContext {
  service: ConversationService
  index: EventIndex
  inboxes: InboxKeeper
  auth: HttpAuth
  /** Told when a long poll starts and ends (metrics). */
  onLongPoll?: (waiting: 1 | -1) => void
  /** The per-user message budget writes draw from (429 when spent); none: unlimited. */
  writeBudget?: WriteBudget
  /** Bytes waiting to be sent to an SSE client beyond which it counts as not reading (the socket is cut). */
  maxBufferedBytes: number
  /** The content policy a publish passes before it is written (422 when it rejects): docs/moderation.md. */
  moderation?: ContentPolicy
  /** Long polls and SSE streams end when the server begins to close (closing.ts). */
  closing: Closing
}

const security = [{ bearer: [] }]
const errors = { 400: schemas.errorBody, 401: schemas.errorBody, 403: schemas.errorBody, 404: schemas.errorBody }
const writeErrors = { ...errors, 429: schemas.errorBody }

const toApiEvent = ({ seq, event }: SequencedEvent): Record<string, unknown> => ({ seq, ...event })

function headView(id: string, head: Head) {
  return {
    id,
    kind: head.kind,
    title: head.title,
    createdBy: head.createdBy,
    createdAt: head.createdAt,
    members: Object.entries(head.members).map(([userId, { role }]) => ({ userId, role })),
    segments: head.segments,
  }
}

const conversationId = (request: FastifyRequest<{ Params: { id: string } }>): string => bareDocumentId(request.params.id)

/**
 * A member ID from a request body, refused (400) when core's isValidUserId refuses it: a
 * name every object inherits would become a hidden prototype key in the head, or a
 * member of everything to a lookup that forgets own properties (docs/security.md).
 * The schema has already bounded its length.
 */
function memberId(user: string): string {
  if (!isValidUserId(user)) throw new ParleyError(ServerErrorCodes.BAD_REQUEST, `${JSON.stringify(user)} is not a valid user ID: a name every object inherits (__proto__, constructor …), or one of the server's own (${RESERVED_USER_PREFIX}…)`)
  return user
}

export function registerRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { service, index, inboxes, auth, closing } = ctx
  const preHandler = auth.authenticate
  // Writes spend one token of the caller's message budget, shared with their sync connections.
  const writePreHandler = ctx.writeBudget ? [auth.authenticate, spendWriteToken(ctx.writeBudget)] : preHandler
  /**
   * For streams and polls that outlive the request's own check. The registry's cache
   * answers at once; when it says no, the entry may only have been unloaded with an idle
   * head, so the answer comes from `open`, which reads it again.
   */
  const stillMember = async (id: string, user: string): Promise<boolean> =>
    service.isMember(id, user) || service.open(id, user).then(() => true, () => false)

  app.post<{ Body: { kind?: ConversationKind; title?: string; members: string[] } }>(
    '/v1/conversations',
    { preHandler: writePreHandler, schema: { tags: ['conversations'], summary: 'Create a conversation; the caller is its owner', security, body: schemas.createConversationBody, response: { 201: schemas.headView, ...writeErrors } } },
    async (request, reply) => {
      const { kind = 'group', title = '', members } = request.body
      const { id, head } = await service.create(caller(request).user, { kind, title, members: members.map(memberId) })
      // Listed in every member's inbox before the answer, not soon after.
      await inboxes.update(id, head, [])
      return reply.code(201).send(headView(id, head))
    },
  )

  app.get(
    '/v1/conversations',
    {
      preHandler,
      schema: {
        tags: ['conversations'],
        summary: 'The caller’s conversations (their inbox)',
        security,
        response: { 200: { type: 'object', properties: { conversations: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, addedAt: { type: 'integer' } } } } } }, ...errors },
      },
    },
    async request => {
      const inbox = await inboxes.read(caller(request).user)
      return { conversations: readInbox(inbox).map(id => ({ id, addedAt: inbox.conversations[id]?.addedAt ?? 0 })) }
    },
  )

  app.get<{ Params: { id: string } }>(
    '/v1/conversations/:id',
    { preHandler, schema: { tags: ['conversations'], summary: 'A conversation’s head: kind, title, members, segments', security, params: schemas.conversationParams, response: { 200: schemas.headView, ...errors } } },
    async request => {
      const id = conversationId(request)
      const { head } = await service.open(id, caller(request).user)
      return headView(id, head)
    },
  )

  app.post<{ Params: { id: string }; Body: { userId: string; role?: Role } }>(
    '/v1/conversations/:id/members',
    {
      preHandler: writePreHandler,
      schema: {
        tags: ['members'],
        summary: 'Add a member (owners and admins; only owners add owners); adding an existing member changes their role (owners only)',
        security,
        params: schemas.conversationParams,
        body: schemas.addMemberBody,
        response: { 201: schemas.eventRef, ...writeErrors },
      },
    },
    async (request, reply) => {
      const { seq, event } = await service.addMember(caller(request).user, conversationId(request), memberId(request.body.userId), request.body.role ?? 'member')
      return reply.code(201).send({ eventId: event.id, seq })
    },
  )

  app.delete<{ Params: { id: string; userId: string } }>(
    '/v1/conversations/:id/members/:userId',
    { preHandler: writePreHandler, schema: { tags: ['members'], summary: 'Remove a member (owners anyone, admins anyone but owners, or the member themselves)', security, params: schemas.memberParams, response: { 200: schemas.eventRef, ...writeErrors } } },
    async request => {
      const { seq, event } = await service.removeMember(caller(request).user, conversationId(request), request.params.userId)
      return { eventId: event.id, seq }
    },
  )

  app.post<{ Params: { id: string }; Body: { text: string; priority?: 'high' | 'normal' | 'low'; idempotencyKey?: string } }>(
    '/v1/conversations/:id/messages',
    {
      preHandler: writePreHandler,
      schema: {
        tags: ['messages'],
        summary: 'Publish a message as the caller; idempotencyKey makes retries safe',
        security,
        params: schemas.conversationParams,
        body: schemas.publishBody,
        response: { 201: schemas.eventRef, 413: schemas.errorBody, 422: schemas.errorBody, ...writeErrors },
      },
    },
    async (request, reply) => {
      if (ctx.moderation?.active) {
        // Members only are judged: the hook hears nothing of a caller who may not write here.
        await service.open(conversationId(request), caller(request).user)
        await screenPublish(ctx.moderation, conversationId(request), caller(request).user, request.body)
      }
      const { seq, event } = await service.publish(caller(request).user, conversationId(request), request.body)
      return reply.code(201).send({ eventId: event.id, seq })
    },
  )

  app.get<{ Params: { id: string }; Querystring: { after?: number; before?: number; limit: number; wait?: number } }>(
    '/v1/conversations/:id/events',
    {
      preHandler,
      schema: {
        tags: ['messages'],
        summary: 'History by server sequence: after=SEQ (forward, with wait=SECONDS a long poll) or before=SEQ (backward)',
        security,
        params: schemas.conversationParams,
        querystring: schemas.eventsQuery,
        response: { 200: schemas.eventsPage, ...errors },
      },
    },
    async (request, reply) => {
      const id = conversationId(request)
      const user = caller(request).user
      await service.open(id, user)
      const { after, before, limit, wait } = request.query
      if (after !== undefined && before !== undefined) throw new ParleyError(ServerErrorCodes.BAD_REQUEST, 'give after or before, not both')
      if (before !== undefined) {
        const page = await index.page(id, { before }, limit)
        return { events: page.events.map(toApiEvent), next: page.next }
      }
      const cursor = { after: after ?? 0 }
      let page = await index.page(id, cursor, limit)
      if (page.events.length === 0 && wait) {
        ctx.onLongPoll?.(1)
        let outcome
        try {
          outcome = await waitForEvents(reply.raw, { index, conversationId: id, after: cursor.after, waitMs: wait * 1000, expiresAt: caller(request).expiresAt, closing })
        } finally {
          ctx.onLongPoll?.(-1)
        }
        // REST refuses an expired token; a poll that outlived its token is refused the same way.
        if (outcome === 'expired') throw new ParleyError(ServerErrorCodes.UNAUTHENTICATED, 'token expired while the poll waited')
        if (outcome === 'stored') {
          // Removed while waiting: nothing stored since goes out.
          if (!(await stillMember(id, user))) throw new ParleyError(ServerErrorCodes.FORBIDDEN, 'not a member of this conversation')
          page = await index.page(id, cursor, limit)
        }
      }
      return { events: page.events.map(toApiEvent), next: page.next }
    },
  )

  app.get<{ Params: { id: string }; Querystring: { after?: number } }>(
    '/v1/conversations/:id/stream',
    {
      preHandler,
      schema: {
        tags: ['messages'],
        summary: 'Server-sent events from after=SEQ (or Last-Event-ID) on, as they are stored',
        security,
        params: schemas.conversationParams,
        querystring: schemas.streamQuery,
        produces: ['text/event-stream'],
      },
    },
    async (request, reply) => {
      const id = conversationId(request)
      const user = caller(request).user
      await service.open(id, user)
      const lastEventId = Number(request.headers['last-event-id'])
      const after = Number.isInteger(lastEventId) && lastEventId >= 0 ? lastEventId : (request.query.after ?? 0)
      streamEvents(reply, { index, conversationId: id, after, stillMember: () => stillMember(id, user), expiresAt: caller(request).expiresAt, maxBufferedBytes: ctx.maxBufferedBytes, closing })
    },
  )
}
