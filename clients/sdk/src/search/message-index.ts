/**
 * The full-text index of the messages on this device, kept event by event with the rules
 * of core projection.ts: only the author's edits and deletes count, the last edit in the
 * total order wins, a delete wins over any edit, and a modifier may arrive before the
 * message it names. A message the server's moderation removed (docs/moderation.md) is not
 * found until a later decision allows it; one whose edit in force was removed is not found
 * either (the projection shows the edit before it, which the index does not keep). Applying an event twice changes nothing, so a journal replayed after
 * a crash, or a segment read again, is harmless.
 *
 * Messages go into shards (shard.ts) in arrival order. Results come newest first: the
 * shards are read from the latest time range down, and the search stops once it holds
 * `limit` results newer than anything the next shard spans, so a common word costs a
 * shard or two, not the whole index. Of several words, MiniSearch looks up only the one
 * with the fewest matches in the newest shard, and the others are checked in each
 * candidate's text, so a common word beside a rare one costs little.
 */
import { compareEvents, MODERATION_AUTHOR, type MessageEvent, type ParleyEvent } from '@parley/core'
import type { SearchResult as MiniResult } from 'minisearch'
import { hasAll, matchPositions, queryTerms, type Term } from './highlight.ts'
import { Shard, type ShardState, type StoredMessage } from './shard.ts'

type Modifier = Extract<ParleyEvent, { type: 'edit' | 'delete' | 'moderated' }>
type Ordered = readonly [number, string, string, ...unknown[]]

/** Whether `event` comes after the event whose place is `[at, device, id]` (none: yes). */
function after(place: Ordered | undefined, event: { at: number; device: string; id: string }): boolean {
  return !place || compareEvents({ at: place[0], device: place[1], id: place[2] }, event) < 0
}

/** Removed by moderation: not shown, so not found. */
export function isHidden(message: StoredMessage): boolean {
  return message.m?.[3] === 1 || message.me?.[3] === 1
}

/** Edits and deletes kept for messages not here (yet): at most this many messages' worth. */
export const MAX_PENDING = 10_000
/** IDs of deleted messages remembered so a late copy of the message is not indexed again. */
export const MAX_DELETED = 100_000

/** Everything but the shards, which are stored one by one. */
export interface IndexMeta {
  pending: [string, Modifier[]][]
  deleted: string[]
}

export interface Match extends StoredMessage {
  id: string
  matches: [number, number][]
  score: number
}

export interface Query {
  text: string
  limit: number
  after: number
  before: number
  accept: (message: StoredMessage) => boolean
}

export class MessageIndex {
  readonly shards: Shard[]
  /** Edits and deletes whose message is not indexed (yet), by the message ID; oldest first. */
  readonly #pending: Map<string, Modifier[]>
  readonly #deleted: Set<string>

  constructor(state?: { meta: IndexMeta; shards: ShardState[] }) {
    this.shards = (state?.shards ?? []).map(shard => new Shard(shard))
    this.#pending = new Map(state?.meta.pending)
    this.#deleted = new Set(state?.meta.deleted)
  }

  get size(): number {
    return this.shards.reduce((sum, shard) => sum + shard.mini.documentCount, 0)
  }

  meta(): IndexMeta {
    return { pending: [...this.#pending], deleted: [...this.#deleted] }
  }

  stored(id: string): StoredMessage | undefined {
    return this.#shardOf(id)?.stored(id)
  }

  /** Applies one event of `conversation`; returns whether the index changed. */
  apply(conversation: string, event: ParleyEvent): boolean {
    if (event.type === 'message') return this.#addMessage(conversation, event)
    if (event.type !== 'edit' && event.type !== 'delete' && event.type !== 'moderated') return false
    if (event.type === 'moderated' && event.author !== MODERATION_AUTHOR) return false
    const shard = this.#shardOf(event.target)
    if (!shard) {
      if (!this.#deleted.has(event.target)) this.#hold(event)
      return false
    }
    return this.#modify(shard, event.target, shard.stored(event.target)!, event)
  }

  /** Matches newest first, at most `query.limit`. */
  search(query: Query): Match[] {
    const terms = queryTerms(query.text)
    if (terms.length === 0) return []
    const shards = this.shards.filter(shard => shard.to > query.after && shard.from < query.before).sort((a, b) => b.to - a.to)
    const anchor = shards[0] ? rarest(shards[0], terms) : terms[0]!
    const others = terms.filter(term => term !== anchor)
    let found: Match[] = []
    for (const shard of shards) {
      if (found.length >= query.limit && found[query.limit - 1]!.t > shard.to) break
      const results = shard.mini.search(anchor.text, {
        prefix: anchor.prefix,
        filter: result => {
          const message = result as unknown as StoredMessage
          return message.t > query.after && message.t < query.before && !isHidden(message) && query.accept(message) && hasAll(message.x, others)
        },
      })
      found = found.concat(results.map(toMatch)).sort((a, b) => b.t - a.t)
      if (found.length > query.limit) found.length = query.limit
    }
    for (const match of found) match.matches = matchPositions(match.x, terms)
    return found
  }

  #shardOf(id: string): Shard | undefined {
    for (let i = this.shards.length - 1; i >= 0; i--) if (this.shards[i]!.has(id)) return this.shards[i]
    return undefined
  }

  #addMessage(conversation: string, message: MessageEvent): boolean {
    if (this.#deleted.has(message.id) || this.#shardOf(message.id)) return false
    let stored: StoredMessage = { c: conversation, a: message.author, t: message.at, x: message.text }
    const held = this.#pending.get(message.id) ?? []
    this.#pending.delete(message.id)
    for (const modifier of held) {
      if (modifier.type === 'moderated') {
        stored = withDecision(stored, modifier) ?? stored
        continue
      }
      if (modifier.author !== message.author) continue
      if (modifier.type === 'delete') {
        this.#remember(message.id)
        return false
      }
      stored = withEdit(stored, modifier) ?? stored
    }
    let newest = this.shards.at(-1)
    if (!newest || newest.full) this.shards.push((newest = new Shard()))
    newest.add({ id: message.id, ...stored })
    return true
  }

  #modify(shard: Shard, id: string, stored: StoredMessage, modifier: Modifier): boolean {
    if (modifier.type === 'moderated') {
      const decided = withDecision(stored, modifier)
      if (decided) shard.replace({ id, ...decided })
      return decided !== undefined
    }
    if (modifier.author !== stored.a) return false
    if (modifier.type === 'delete') {
      shard.discard(id)
      this.#remember(id)
      return true
    }
    const edited = withEdit(stored, modifier)
    if (!edited) return false
    shard.replace({ id, ...edited })
    return true
  }

  #hold(modifier: Modifier): void {
    const held = this.#pending.get(modifier.target)
    if (held) {
      if (!held.some(event => event.id === modifier.id)) held.push(modifier)
      return
    }
    this.#pending.set(modifier.target, [modifier])
    if (this.#pending.size > MAX_PENDING) this.#pending.delete(this.#pending.keys().next().value!)
  }

  #remember(id: string): void {
    this.#deleted.add(id)
    if (this.#deleted.size > MAX_DELETED) this.#deleted.delete(this.#deleted.values().next().value!)
  }
}

/** The term that matches the fewest messages of `shard` (one of them if several tie). */
function rarest(shard: Shard, terms: readonly Term[]): Term {
  if (terms.length === 1) return terms[0]!
  let best = terms[0]!
  let fewest = Infinity
  for (const term of terms) {
    let count = 0
    // Counted in the filter, which then drops every result: no result objects to build or sort.
    shard.mini.search(term.text, { prefix: term.prefix, filter: () => (count++, false) })
    if (count < fewest) [best, fewest] = [term, count]
  }
  return best
}

function toMatch(result: MiniResult): Match {
  const message = result as unknown as StoredMessage
  return { id: String(result.id), c: message.c, a: message.a, t: message.t, x: message.x, matches: [], score: result.score }
}

/** The message with `edit` applied, or undefined if an edit later in the total order is already in force. */
function withEdit(stored: StoredMessage, edit: Extract<Modifier, { type: 'edit' }>): StoredMessage | undefined {
  if (!after(stored.e, edit)) return undefined
  const { me: _decided, ...rest } = stored // a decision about the edit it replaces
  return { ...rest, x: edit.text, e: [edit.at, edit.device, edit.id] }
}

/** The message with a moderation decision applied, or undefined if it changes nothing (a later one is in force, or it is about an edit not in force). */
function withDecision(stored: StoredMessage, decision: Extract<Modifier, { type: 'moderated' }>): StoredMessage | undefined {
  const place: [number, string, string, 0 | 1] = [decision.at, decision.device, decision.id, decision.decision === 'rejected' ? 1 : 0]
  if (decision.edit === undefined) return after(stored.m, decision) ? { ...stored, m: place } : undefined
  if (stored.e?.[2] !== decision.edit || !after(stored.me, decision)) return undefined
  return { ...stored, me: place }
}
