/** The immutable events of a conversation log. */
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

export type ParleyEvent =
  | MessageEvent
  | EditEvent
  | DeleteEvent
  | ReactionEvent
  | MemberAddedEvent
  | MemberRemovedEvent
  | TitleChangedEvent
  | ReadEvent

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
]

/** The fields of an event a writer chooses; the rest (id, author, device, at) are stamped. */
export type EventBody<E extends ParleyEvent = ParleyEvent> = E extends ParleyEvent
  ? Omit<E, 'id' | 'author' | 'device' | 'at'>
  : never
