import { attachmentOf, type Attachment } from './attachments.ts'
import { MODERATION_AUTHOR, type AttachmentEvent, type DeleteEvent, type EditEvent, type MessageEvent, type ModeratedEvent, type ParleyEvent, type Priority, type ReactionEvent, type ReadEvent } from './events.ts'
import { sortUnique } from './order.ts'

export interface TimelineItem {
  id: string
  author: string
  text: string
  at: number
  /** Present when the author edited the message; `text` is then the latest edit. */
  edited?: true
  /** Present when the author deleted the message; `text` is then empty. */
  deleted?: true
  /** Emoji → user IDs who reacted with it, sorted. Emoji nobody holds are left out. No prototype: an emoji is any text. */
  reactions: Record<string, string[]>
  priority?: Priority
  /**
   * Present while the server's latest decision about the message (or, with `edit`, about
   * one edit of it) is `rejected` or `flagged` (docs/moderation.md). A rejected message's
   * `text` is empty: views show "removed by moderation", and to its author the reason. A
   * rejected edit is left out (the text is the one before it); a flagged message shows as usual.
   */
  moderation?: Moderation
  /** Present on an item made by an `attachment` event, unless deleted or removed by moderation (docs/attachments.md). */
  attachment?: Attachment
}

/** The events that add an item to the timeline; every other event modifies one or adds none. */
export type ItemEvent = MessageEvent | AttachmentEvent

export function isItem(event: ParleyEvent): event is ItemEvent {
  return event.type === 'message' || event.type === 'attachment'
}

export interface Moderation {
  decision: 'rejected' | 'flagged'
  reason: string
  /** The edit the decision is about; absent when it is about the message itself. */
  edit?: string
}

/**
 * Folds events into the timeline every replica shows. Pure: the same set of events, in
 * any arrival order and with any duplicates, yields the same timeline.
 *
 * Only a message's author may edit or delete it; edits and deletes from anyone else are
 * ignored. Among edits the last in the total order wins, and a delete wins over any edit.
 * Modifiers apply whatever their position relative to the message, so a skewed clock
 * cannot orphan an edit.
 */
export function project(events: Iterable<ParleyEvent>): TimelineItem[] {
  const ordered = sortUnique(events)
  const modifiers = new Map<string, ModifierEvent[]>()
  for (const event of ordered) {
    if (!isModifier(event)) continue
    const list = modifiers.get(event.target)
    if (list) list.push(event)
    else modifiers.set(event.target, [event])
  }
  const timeline: TimelineItem[] = []
  for (const event of ordered) if (isItem(event)) timeline.push(projectMessage(event, modifiers.get(event.id) ?? []))
  return timeline
}

/** The events that change a message rather than add one. */
export type ModifierEvent = EditEvent | DeleteEvent | ReactionEvent | ModeratedEvent

export function isModifier(event: ParleyEvent): event is ModifierEvent {
  return event.type === 'edit' || event.type === 'delete' || event.type === 'reaction' || event.type === 'moderated'
}

/** The server's latest decision about the message and about each of its edits; another author's `moderated` counts for nothing. */
function decisions(modifiers: readonly ModifierEvent[]): { message?: ModeratedEvent; edits: Map<string, ModeratedEvent> } {
  let message: ModeratedEvent | undefined
  const edits = new Map<string, ModeratedEvent>()
  for (const event of modifiers) {
    if (event.type !== 'moderated' || event.author !== MODERATION_AUTHOR) continue
    if (event.edit === undefined) message = event
    else edits.set(event.edit, event)
  }
  return message ? { message, edits } : { edits }
}

/**
 * One message as the timeline shows it, given the modifiers aimed at it, already in the
 * total order (compareEvents). A message depends on nothing else, so a new event
 * re-projects at most the one message it names (timeline.ts).
 */
export function projectMessage(message: ItemEvent, modifiers: readonly ModifierEvent[]): TimelineItem {
  const item: TimelineItem = { id: message.id, author: message.author, text: message.type === 'message' ? message.text : '', at: message.at, reactions: Object.create(null) }
  if (message.type === 'message' && message.priority) item.priority = message.priority
  if (message.type === 'attachment') item.attachment = attachmentOf(message)
  const reactions = new Map<string, Set<string>>()
  const moderated = decisions(modifiers)
  for (const event of modifiers) {
    if (event.type === 'moderated') continue
    if (event.type === 'reaction') {
      const users = reactions.get(event.emoji) ?? new Set<string>()
      reactions.set(event.emoji, users)
      if (event.remove) users.delete(event.author)
      else users.add(event.author)
      continue
    }
    if (event.author !== item.author || item.deleted) continue
    if (event.type === 'delete') {
      item.deleted = true
      item.text = ''
      delete item.attachment
      delete item.edited
    } else {
      const decision = moderated.edits.get(event.id)
      if (decision?.decision === 'rejected') {
        item.moderation = { decision: 'rejected', reason: decision.reason, edit: event.id }
        continue
      }
      item.text = event.text
      item.edited = true
    }
  }
  const decision = moderated.message
  if (decision && decision.decision !== 'allowed') {
    item.moderation = { decision: decision.decision, reason: decision.reason }
    if (decision.decision === 'rejected') {
      item.text = ''
      delete item.attachment
    }
  }
  for (const [emoji, users] of reactions) if (users.size > 0) item.reactions[emoji] = [...users].sort()
  return item
}

/** Neither deleted by its author nor removed by moderation. */
export function isShown(item: TimelineItem): boolean {
  return !item.deleted && !(item.moderation?.decision === 'rejected' && item.moderation.edit === undefined)
}

/**
 * Messages from others after the reader's cursor and after the reader's own last message:
 * writing a message reads what came before it (a list must not show "2 unread" next to
 * the reader's own reply, whichever client it was written from). Without a cursor every
 * message from others counts. A cursor whose target is not in the timeline (an older page
 * not yet loaded) counts what was written after the receipt itself. (A message from
 * another sorted before the reply but not yet seen when it was written is taken as read:
 * the hybrid clock orders what the writer had seen before what it wrote.)
 */
export function unreadCount(timeline: readonly TimelineItem[], me: string, cursor?: ReadEvent): number {
  let start = 0
  if (cursor) {
    const index = timeline.findIndex(item => item.id === cursor.target)
    start = index >= 0 ? index + 1 : timeline.findIndex(item => item.at > cursor.at)
    if (start < 0) return 0
  }
  for (let i = timeline.length - 1; i >= start; i--) {
    if (timeline[i]!.author !== me) continue
    start = i + 1
    break
  }
  let count = 0
  for (let i = start; i < timeline.length; i++) {
    const item = timeline[i]!
    if (item.author !== me && isShown(item)) count++
  }
  return count
}
