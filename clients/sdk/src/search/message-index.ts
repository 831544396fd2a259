/**
 * The full-text index of the messages on this device, kept event by event with the rules
 * of core projection.ts: only the author's edits and deletes count, the last edit in the
 * total order wins, a delete wins over any edit, and a modifier may arrive before the
 * message it names. Applying an event twice changes nothing, so a journal replayed after
 * a crash, or a segment read again, is harmless.
 *
 * Messages go into shards (shard.ts) in arrival order. Results come newest first: the
 * shards are read from the latest time range down, and the search stops once it holds
 * `limit` results newer than anything the next shard spans, so a common word costs a
 * shard or two, not the whole index.
 */
import { compareEvents, type MessageEvent, type ParleyEvent } from '@parley/core'
import type { SearchResult as MiniResult } from 'minisearch'
import { Shard, type ShardState, type StoredMessage } from './shard.ts'

type Modifier = Extract<ParleyEvent, { type: 'edit' | 'delete' }>

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
  terms: string[]
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
    if (event.type !== 'edit' && event.type !== 'delete') return false
    const shard = this.#shardOf(event.target)
    if (!shard) {
      if (!this.#deleted.has(event.target)) this.#hold(event)
      return false
    }
    return this.#modify(shard, event.target, shard.stored(event.target)!, event)
  }

  /** Matches newest first, at most `query.limit`. */
  search(query: Query): Match[] {
    const shards = this.shards.filter(shard => shard.to > query.after && shard.from < query.before).sort((a, b) => b.to - a.to)
    let found: Match[] = []
    for (const shard of shards) {
      if (found.length >= query.limit && found[query.limit - 1]!.t > shard.to) break
      const results = shard.mini.search(query.text, {
        filter: result => {
          const message = result as unknown as StoredMessage
          return message.t > query.after && message.t < query.before && query.accept(message)
        },
      })
      found = found.concat(results.map(toMatch)).sort((a, b) => b.t - a.t)
      if (found.length > query.limit) found.length = query.limit
    }
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

function toMatch(result: MiniResult): Match {
  const message = result as unknown as StoredMessage
  return { id: String(result.id), c: message.c, a: message.a, t: message.t, x: message.x, terms: result.terms, score: result.score }
}

/** The message with `edit` applied, or undefined if an edit later in the total order is already in force. */
function withEdit(stored: StoredMessage, edit: Extract<Modifier, { type: 'edit' }>): StoredMessage | undefined {
  if (stored.e) {
    const [at, device, id] = stored.e
    if (compareEvents({ at, device, id }, edit) >= 0) return undefined
  }
  return { ...stored, x: edit.text, e: [edit.at, edit.device, edit.id] }
}
