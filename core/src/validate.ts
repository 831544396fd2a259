import { ATTACHMENT_FIELDS, checkAttachment } from './attachments.ts'
import { CoreErrorCodes, ParleyError } from './errors.ts'
import { utf8Length } from './utf8.ts'
import { EVENT_TYPES, MODERATION_DECISIONS, ROLES, type EventType, type ModerationDecision, type ParleyEvent, type Role } from './events.ts'

export interface Limits {
  /** Largest message or edit text, in UTF-8 bytes. */
  maxTextBytes: number
  /** Largest conversation title, in UTF-8 bytes. */
  maxTitleBytes: number
  /** Largest ID (event, user, device), in characters. */
  maxIdLength: number
  /** Largest reaction, in UTF-8 bytes. */
  maxEmojiBytes: number
  /**
   * UTF-8 bytes of event JSON beyond which the server refuses appends to a segment:
   * 4 × SEGMENT_BYTES, where writers start the next one.
   */
  maxSegmentBytes: number
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxTextBytes: 16 * 1024,
  maxTitleBytes: 256,
  maxIdLength: 128,
  maxEmojiBytes: 64,
  maxSegmentBytes: 2 * 1024 * 1024,
})

/** Fields each event type must carry besides the common ones, and which are optional. */
const SHAPES: Record<EventType, { required: string[]; optional?: string[] }> = {
  message: { required: ['text'], optional: ['priority'] },
  edit: { required: ['target', 'text'] },
  delete: { required: ['target'] },
  reaction: { required: ['target', 'emoji'], optional: ['remove'] },
  'member-added': { required: ['member', 'role'] },
  'member-removed': { required: ['member'] },
  'title-changed': { required: ['title'] },
  read: { required: ['target'] },
  moderated: { required: ['target', 'decision', 'reason'], optional: ['edit'] },
  attachment: ATTACHMENT_FIELDS,
}
const COMMON = ['id', 'type', 'author', 'device', 'at']
const PRIORITIES = ['high', 'normal', 'low']
/** A moderation reason is a short sentence for the author and operators, not a document. */
export const MAX_REASON_BYTES = 512

function invalid(message: string): never {
  throw new ParleyError(CoreErrorCodes.INVALID_EVENT, message)
}

function checkId(event: Record<string, unknown>, field: string, limits: Limits): void {
  const value = event[field]
  if (typeof value !== 'string' || value.length === 0) invalid(`${field} must be a non-empty string`)
  if (value.length > limits.maxIdLength) invalid(`${field} is longer than ${limits.maxIdLength} characters`)
}

function checkText(event: Record<string, unknown>, field: string, maxBytes: number, code: string): void {
  const value = event[field]
  if (typeof value !== 'string') invalid(`${field} must be a string`)
  const bytes = utf8Length(value)
  if (bytes > maxBytes) throw new ParleyError(code, `${field} is ${bytes} bytes; the limit is ${maxBytes}`)
}

/**
 * Checks an untrusted value is a well-formed event within the limits and returns it
 * typed. Unknown fields are rejected so that every replica stores the same shape.
 */
export function validateEvent(input: unknown, limits: Limits = DEFAULT_LIMITS): ParleyEvent {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) invalid('an event must be an object')
  const event = input as Record<string, unknown>
  const type = event.type as EventType
  if (!EVENT_TYPES.includes(type)) invalid(`unknown event type ${JSON.stringify(event.type)}`)
  const shape = SHAPES[type]
  const allowed = new Set([...COMMON, ...shape.required, ...(shape.optional ?? [])])
  for (const key of Object.keys(event)) if (!allowed.has(key)) invalid(`unknown field ${key} on a ${type} event`)
  for (const key of [...COMMON, ...shape.required]) if (event[key] === undefined) invalid(`${type} event lacks ${key}`)

  checkId(event, 'id', limits)
  checkId(event, 'author', limits)
  checkId(event, 'device', limits)
  if (!Number.isSafeInteger(event.at) || (event.at as number) < 0) invalid('at must be a non-negative integer')
  if ('target' in event) checkId(event, 'target', limits)
  if ('member' in event) checkId(event, 'member', limits)
  if ('edit' in event) checkId(event, 'edit', limits)
  if ('decision' in event && !MODERATION_DECISIONS.includes(event.decision as ModerationDecision)) {
    invalid(`decision must be one of ${MODERATION_DECISIONS.join(', ')}`)
  }
  if ('reason' in event) checkText(event, 'reason', MAX_REASON_BYTES, CoreErrorCodes.INVALID_EVENT)
  if ('text' in event) checkText(event, 'text', limits.maxTextBytes, CoreErrorCodes.TEXT_TOO_LARGE)
  if ('title' in event) checkText(event, 'title', limits.maxTitleBytes, CoreErrorCodes.INVALID_EVENT)
  if ('emoji' in event) {
    checkText(event, 'emoji', limits.maxEmojiBytes, CoreErrorCodes.INVALID_EVENT)
    if ((event.emoji as string).length === 0) invalid('emoji must not be empty')
  }
  if ('role' in event && !ROLES.includes(event.role as Role)) invalid(`role must be one of ${ROLES.join(', ')}`)
  if ('priority' in event && !PRIORITIES.includes(event.priority as string)) {
    invalid(`priority must be one of ${PRIORITIES.join(', ')}`)
  }
  if ('remove' in event && typeof event.remove !== 'boolean') invalid('remove must be a boolean')
  if (type === 'attachment') checkAttachment(event)
  return event as unknown as ParleyEvent
}

/** Parses one stored event (JSON text) and validates it. */
export function parseEvent(json: string, limits: Limits = DEFAULT_LIMITS): ParleyEvent {
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch (cause) {
    throw new ParleyError(CoreErrorCodes.INVALID_EVENT, 'stored event is not valid JSON', { cause })
  }
  return validateEvent(value, limits)
}
