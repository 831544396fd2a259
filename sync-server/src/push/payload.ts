/**
 * What a push carries to the service worker (clients/web/src/offline/service-worker.ts reads it),
 * encrypted to the device (RFC 8291): the conversation, the sender and, only when the
 * operator allows it (`--push-text`), the text. Bounded well under the 4 KiB a push
 * service accepts.
 */
import type { QueuedNotification } from '../webhooks/dispatcher.ts'

export interface PushPayload {
  v: 1
  conversationId: string
  /** The conversation's title, when it has one. */
  title?: string
  sender: string
  /** Only with `--push-text`; cut to TEXT_BYTES. */
  text?: string
  seq: number
  eventId: string
  at: number
}

/** What the queue keeps of a message for a push (never its text unless it will be sent). */
export interface PushEvent { id: string; author: string; at: number; title?: string; text?: string }

const TEXT_BYTES = 1000
const TITLE_BYTES = 200

export function pushEvent(event: { id: string; author: string; at: number; text?: string }, title: string | undefined, withText: boolean): PushEvent {
  return {
    id: event.id,
    author: event.author,
    at: event.at,
    ...(title && { title: cut(title, TITLE_BYTES) }),
    ...(withText && typeof event.text === 'string' && { text: cut(event.text, TEXT_BYTES) }),
  }
}

export function pushPayload(n: QueuedNotification): PushPayload {
  const event = n.event as unknown as PushEvent
  return {
    v: 1,
    conversationId: n.conversationId,
    ...(event.title !== undefined && { title: event.title }),
    sender: event.author,
    ...(event.text !== undefined && { text: event.text }),
    seq: n.seq,
    eventId: event.id,
    at: event.at,
  }
}

/** At most `bytes` of UTF-8, cut between code points, with an ellipsis when cut. */
export function cut(text: string, bytes: number): string {
  if (Buffer.byteLength(text) <= bytes) return text
  let out = ''
  let used = 0
  for (const char of text) {
    const size = Buffer.byteLength(char)
    if (used + size > bytes - 3) break
    out += char
    used += size
  }
  return `${out}…`
}
