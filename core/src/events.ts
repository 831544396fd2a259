/** The immutable events of a conversation log. */
import type { Attachment } from './attachments.ts'

export type Role = 'owner' | 'admin' | 'member'
export const ROLES: readonly Role[] = ['owner', 'admin', 'member']
export type Priority = 'high' | 'normal' | 'low'

interface EventBase {
  /** Random, unique per event. */
  id: string
  /** User ID of the writer. */
  author: string
  /** Device ID of the writer: breaks ties between equal timestamps. */
  device: string
  /** Hybrid logical clock timestamp in ms (see hlc.ts). */
  at: number
}

export interface MessageEvent extends EventBase {
  type: 'message'
  text: string
  priority?: Priority
}
export interface EditEvent extends EventBase {
  type: 'edit'
  target: string
  text: string
}
export interface DeleteEvent extends EventBase {
  type: 'delete'
  target: string
}
export interface ReactionEvent extends EventBase {
  type: 'reaction'
  target: string
  emoji: string
  /** true withdraws the author's earlier reaction with this emoji. */
  remove?: boolean
}
export interface MemberAddedEvent extends EventBase {
  type: 'member-added'
  member: string
  role: Role
}
export interface MemberRemovedEvent extends EventBase {
  type: 'member-removed'
  member: string
}
export interface TitleChangedEvent extends EventBase {
  type: 'title-changed'
  title: string
}
/** A read receipt: everything up to and including `target` has been read by `author`. */
export interface ReadEvent extends EventBase {
  type: 'read'
  target: string
}

/** What the server decided about a message (docs/moderation.md). `allowed` reverses an earlier decision. */
export type ModerationDecision = 'rejected' | 'flagged' | 'allowed'
export const MODERATION_DECISIONS: readonly ModerationDecision[] = ['rejected', 'flagged', 'allowed']

/**
 * The author of every `moderated` event: the server itself, not a user. The server
 * refuses `moderated` events from every client (sync-server access/rules.ts checkEvent),
 * so one in a log was written by the server, and projections honour no other author's.
 */
export const MODERATION_AUTHOR = 'parley:moderation'

/**
 * The server's decision about a message (`target`), appended after the message was
 * accepted: the log stays append-only. With `edit`, the decision is about that edit of
 * the message only. The latest decision in the total order wins (docs/moderation.md).
 */
export interface ModeratedEvent extends EventBase {
  type: 'moderated'
  target: string
  decision: ModerationDecision
  reason: string
  edit?: string
}

/**
 * A file shared in the conversation: it names a blob by its SHA-256, and the bytes go to
 * the server apart from the log (docs/attachments.md). Shown in the timeline like a message.
 */
export interface AttachmentEvent extends EventBase, Attachment {
  type: 'attachment'
}

export type ParleyEvent =
  | MessageEvent
  | AttachmentEvent
  | EditEvent
  | DeleteEvent
  | ReactionEvent
  | MemberAddedEvent
  | MemberRemovedEvent
  | TitleChangedEvent
  | ReadEvent
  | ModeratedEvent

export type EventType = ParleyEvent['type']

export const EVENT_TYPES: readonly EventType[] = [
  'message',
  'edit',
  'delete',
  'reaction',
  'member-added',
  'member-removed',
  'title-changed',
  'read',
  'moderated',
  'attachment',
]

/** The fields of an event a writer chooses; the rest (id, author, device, at) are stamped. */
export type EventBody<E extends ParleyEvent = ParleyEvent> = E extends ParleyEvent
  ? Omit<E, 'id' | 'author' | 'device' | 'at'>
  : never
