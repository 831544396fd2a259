/**
 * The ingest message format (docs/ingest.md): one JSON object per broker message, read
 * once into a typed value or refused with a reason. The size is checked before
 * `JSON.parse`, which is synchronous and would otherwise take whatever the broker holds.
 */
import { bareDocumentId, isValidUserId } from '@parley/core'

export type Priority = 'high' | 'normal' | 'low'

export interface IngestMessage {
  readonly conversation: string
  /** The user the event is written as: `author`, or the system user for `"system": true`. */
  readonly sender: string
  readonly text: string
  readonly priority?: Priority
  readonly idempotencyKey: string
}

/**
 * Why a message can never be applied. A closed set: it is a metric label and the
 * `x-parley-reason` of a dead letter.
 */
export type DeadReason = 'too-large' | 'invalid' | 'unknown-conversation' | 'not-member' | 'conflict' | 'refused'
export const DEAD_REASONS: readonly DeadReason[] = ['too-large', 'invalid', 'unknown-conversation', 'not-member', 'conflict', 'refused']

export interface Refusal {
  readonly reason: DeadReason
  readonly detail: string
}

const FIELDS = new Set(['conversation', 'author', 'system', 'text', 'priority', 'idempotencyKey'])
const PRIORITIES = new Set<unknown>(['high', 'normal', 'low'])
/** As HTTP publish bounds it (http/schemas.ts publishBody). */
const MAX_KEY_LENGTH = 200
const MAX_ID_LENGTH = 200

export interface ParseOptions {
  /** Bytes beyond which a message is refused unread. */
  readonly maxBytes: number
  /** Who `"system": true` writes as. */
  readonly systemUser: string
  /** The broker's own ID of the message (AMQP `messageId`, NATS `Nats-Msg-Id`): the key when the body gives none. */
  readonly brokerId?: string
}

/** The message, or why it can never be applied. */
export function parseIngestMessage(bytes: Uint8Array, options: ParseOptions): IngestMessage | Refusal {
  if (bytes.byteLength > options.maxBytes) return refuse('too-large', `the message is ${bytes.byteLength} bytes; the limit is ${options.maxBytes}`)
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  } catch (error) {
    return refuse('invalid', `not JSON: ${(error as Error).message}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return refuse('invalid', 'the message must be a JSON object')
  const body = value as Record<string, unknown>
  const unknown = Object.keys(body).find(key => !FIELDS.has(key))
  if (unknown !== undefined) return refuse('invalid', `unknown field ${JSON.stringify(unknown).slice(0, 80)}`)
  const { conversation, author, system, text, priority, idempotencyKey } = body
  if (typeof conversation !== 'string' || conversation.length === 0 || conversation.length > MAX_ID_LENGTH) return refuse('invalid', `conversation must be a conversation ID (1 to ${MAX_ID_LENGTH} characters)`)
  if (system !== undefined && system !== true) return refuse('invalid', 'system must be true when given')
  if ((author === undefined) === (system === undefined)) return refuse('invalid', 'give exactly one of author (a user ID) or "system": true')
  if (author !== undefined && (typeof author !== 'string' || author.length > MAX_ID_LENGTH || !isValidUserId(author))) return refuse('invalid', 'author must be a valid user ID')
  if (typeof text !== 'string' || text.length === 0) return refuse('invalid', 'text must be a non-empty string')
  if (priority !== undefined && !PRIORITIES.has(priority)) return refuse('invalid', 'priority must be high, normal or low')
  const key = idempotencyKey ?? options.brokerId
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    return refuse('invalid', `idempotencyKey (1 to ${MAX_KEY_LENGTH} characters) is required, or the broker's message ID: without one a redelivery could write the message twice`)
  }
  return {
    conversation: bareDocumentId(conversation),
    sender: author === undefined ? options.systemUser : (author as string),
    text,
    ...(priority !== undefined && { priority: priority as Priority }),
    idempotencyKey: key,
  }
}

export function isRefusal(value: IngestMessage | Refusal): value is Refusal {
  return 'reason' in value
}

function refuse(reason: DeadReason, detail: string): Refusal {
  return { reason, detail }
}
