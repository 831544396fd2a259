/**
 * One event ID, one author. Replicas keep the first of events sharing an ID (core
 * sortUnique, by clock), so a member who copies someone else's visible event ID with an
 * earlier `at` would shadow that message in every replica (docs/security.md, "Event-ID
 * shadowing"). Both write paths call this before accepting events: the guard's segment
 * checks (access/guard.ts) and the relay core's. An ID bound to its event's author (core
 * `eventId`, what clients make) needs no lookup, since no other author can hold it: where a
 * lookup is a round trip (PostgreSQL), only the other IDs are looked up. On LevelDB a
 * lookup is a local read that the numbering makes anyway and takes from what this one
 * read, so every ID is looked up there (skipping them measured dearer, likely the tag's
 * SHA-256 and the numbering's reads no longer cached).
 */
import { isEventIdOf, parseEvent, readString, type ParleyEvent } from '@parley/core'
import type { EventIndex } from './event-index.ts'

export type EventIdentity = Pick<ParleyEvent, 'id' | 'author'>

/** What the check reads the server sequence through. */
export type EventIdLookups = Pick<EventIndex, 'seqOf' | 'page' | 'remoteLookups'>

/**
 * Why `events` may not be accepted into the conversation, or undefined: one of them
 * reuses an ID the conversation already has from another author. Asks `recentAuthor`
 * (the segment being written, whose newest events the index may not have numbered yet:
 * heldAuthors, or the relay's recent events) and the server sequence (every segment's
 * events, by ID; none without an index).
 */
export async function refusesEventIdReuse(
  index: EventIdLookups | undefined,
  conversationId: string,
  events: Iterable<EventIdentity>,
  recentAuthor: (eventId: string) => string | undefined = () => undefined,
): Promise<string | undefined> {
  const given = index ? looked(index, events) : [...events]
  if (given.length === 0) return undefined
  // Looked up all at once: a message from a device back online carries many events, and
  // PostgreSQL answers the lookups of one turn in one round trip (storage/postgres/event-store.ts).
  const others = await Promise.all(given.map(({ id }) => recentAuthor(id) ?? (index && indexedAuthor(index, conversationId, id))))
  for (const [i, { id, author }] of given.entries()) {
    const other = others[i]
    if (other !== undefined && other !== author) return `event ID ${id} is already ${other}’s event in this conversation`
  }
  return undefined
}

/** The events whose IDs are looked up: with remote lookups, those not bound to their authors (core isEventIdOf); otherwise all. */
function looked<T extends EventIdentity>(index: Pick<EventIndex, 'remoteLookups'>, events: Iterable<T>): T[] {
  return index.remoteLookups ? [...events].filter(({ id, author }) => !isEventIdOf(id, author)) : [...events]
}

/**
 * Events at the end of the segment being written that are looked at: those the server
 * sequence may not have numbered yet (it numbers each change as soon as it is applied).
 * Reading a whole 1,000-event segment per message cost 1.2 ms; these, a few µs each.
 */
const RECENT_HELD = 128

/** The authors of the last events of `held` (event JSON strings), by ID, for refusesEventIdReuse. */
export function heldAuthors(held: readonly unknown[]): (id: string) => string | undefined {
  return id => {
    const quoted = JSON.stringify(id)
    for (let i = held.length - 1; i >= Math.max(0, held.length - RECENT_HELD); i--) {
      // A string search first: parsing every event looked at would cost more.
      const text = readString(held[i])
      if (text === undefined || !text.includes(quoted)) continue
      const event = tryParse(text)
      if (event?.id === id) return event.author
    }
    return undefined
  }
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
