/**
 * JSON schemas of the REST v1 routes: fastify validates every request with them (unknown
 * fields rejected) and @fastify/swagger turns the same objects into /v1/openapi.json.
 */
import { CONVERSATION_KINDS, DEFAULT_LIMITS } from '@parley/core'

const id = { type: 'string', minLength: 1, maxLength: 256 } as const
const userId = { type: 'string', minLength: 1, maxLength: DEFAULT_LIMITS.maxIdLength } as const
const role = { type: 'string', enum: ['owner', 'admin', 'member'] } as const
const priority = { type: 'string', enum: ['high', 'normal', 'low'] } as const

export const errorBody = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } }, required: ['code', 'message'] } },
  required: ['error'],
} as const

/** An event as the API shows it: its server sequence number and its fields. */
export const sequencedEvent = {
  type: 'object',
  additionalProperties: true,
  properties: {
    seq: { type: 'integer', minimum: 1 },
    id: { type: 'string' },
    type: { type: 'string' },
    author: { type: 'string' },
    device: { type: 'string' },
    at: { type: 'integer' },
    text: { type: 'string' },
  },
  required: ['seq', 'id', 'type', 'author', 'at'],
} as const

export const headView = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    kind: { type: 'string' },
    title: { type: 'string' },
    createdBy: { type: 'string' },
    createdAt: { type: 'integer' },
    members: { type: 'array', items: { type: 'object', properties: { userId: { type: 'string' }, role: { type: 'string' } }, required: ['userId', 'role'] } },
    segments: { type: 'array', items: { type: 'string' } },
  },
  required: ['id', 'kind', 'title', 'createdBy', 'members', 'segments'],
} as const

export const conversationParams = { type: 'object', properties: { id }, required: ['id'], additionalProperties: false } as const

export const createConversationBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    kind: { type: 'string', enum: [...CONVERSATION_KINDS] },
    title: { type: 'string', maxLength: DEFAULT_LIMITS.maxTitleBytes },
    members: { type: 'array', items: userId, maxItems: 1000, uniqueItems: true },
  },
  required: ['members'],
} as const

export const addMemberBody = { type: 'object', additionalProperties: false, properties: { userId, role }, required: ['userId'] } as const

export const memberParams = { type: 'object', properties: { id, userId }, required: ['id', 'userId'], additionalProperties: false } as const

export const publishBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    text: { type: 'string', minLength: 1 },
    priority,
    idempotencyKey: { type: 'string', minLength: 1, maxLength: 200 },
  },
  required: ['text'],
} as const

export const eventRef = { type: 'object', properties: { eventId: { type: 'string' }, seq: { type: 'integer' } }, required: ['eventId', 'seq'] } as const

export const eventsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    after: { type: 'integer', minimum: 0 },
    before: { type: 'integer', minimum: 1 },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    wait: { type: 'number', minimum: 0, maximum: 60 },
  },
} as const

export const eventsPage = {
  type: 'object',
  properties: { events: { type: 'array', items: sequencedEvent }, next: { type: 'integer' } },
  required: ['events', 'next'],
} as const

export const streamQuery = { type: 'object', additionalProperties: false, properties: { after: { type: 'integer', minimum: 0 } } } as const
