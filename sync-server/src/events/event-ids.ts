/**
 * One event ID, one author. Replicas keep the first of events sharing an ID (core
 * sortUnique, by clock), so a member who copies someone else's visible event ID with an
 * earlier `at` would shadow that message in every replica (docs/security.md, "Event-ID
 * shadowing"). Both write paths call this before accepting events: the guard's segment
 * checks (access/guard.ts) and the relay core's.
 */
import { parseEvent, readString, type ParleyEvent } from '@parley/core'
import type { EventIndex } from './event-index.ts'

export type EventIdentity = Pick<ParleyEvent, 'id' | 'author'>

/**
 * Why `events` may not be accepted into the conversation, or undefined: one of them
 * reuses an ID the conversation already has from another author. Looks in `held` (the
 * event JSON of the segment being written, which may hold events the index has not
 * numbered yet) and in the server sequence (every segment's events, by ID).
 */
export async function refusesEventIdReuse(
  index: Pick<EventIndex, 'seqOf' | 'page'>,
  conversationId: string,
  events: Iterable<EventIdentity>,
  held: readonly unknown[] = [],
): Promise<string | undefined> {
  for (const { id, author } of events) {
    const other = heldAuthor(held, id) ?? (await indexedAuthor(index, conversationId, id))
    if (other !== undefined && other !== author) return `event ID ${id} is already ${other}’s event in this conversation`
  }
  return undefined
}

/** The author of the event with this ID in `held` (event JSON strings), if any. */
function heldAuthor(held: readonly unknown[], id: string): string | undefined {
  const quoted = JSON.stringify(id)
  for (const json of held) {
    // A string search first: parsing every event of the segment per message would cost more.
    const text = readString(json)
    if (text === undefined || !text.includes(quoted)) continue
    const event = tryParse(text)
    if (event?.id === id) return event.author
  }
  return undefined
}

async function indexedAuthor(index: Pick<EventIndex, 'seqOf' | 'page'>, conversationId: string, id: string): Promise<string | undefined> {
  const seq = await index.seqOf(conversationId, id)
  if (seq === undefined) return undefined
  return (await index.page(conversationId, { after: seq - 1 }, 1)).events[0]?.event.author
}

function tryParse(json: string): ParleyEvent | undefined {
  try {
    return parseEvent(json)
  } catch {
    return undefined
  }
}

/** The events a change set appends (string values of its ops that parse as events). */
export function appendedEvents(ops: Iterable<{ value?: unknown }>): ParleyEvent[] {
  const events: ParleyEvent[] = []
  for (const op of ops) {
    if (typeof op.value !== 'string') continue
    const event = tryParse(op.value)
    if (event) events.push(event)
  }
  return events
}
