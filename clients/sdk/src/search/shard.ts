/**
 * One shard of the search index: a MiniSearch over up to SHARD_SIZE messages, in the order
 * they reached this device, with the time range they span. Shards keep every query and
 * every write bounded: a query reads the newest shards first and stops once no older
 * shard can hold a newer match (message-index.ts); a write rewrites only the shards it
 * touched (index-store.ts).
 */
import MiniSearch, { type AsPlainObject, type Options } from 'minisearch'

/** What the index stores per message besides its terms (short names: they are stored for every message). */
export interface StoredMessage {
  /** conversation */
  c: string
  /** author */
  a: string
  /** time (the message's `at`) */
  t: number
  /** current text */
  x: string
  /** the edit in force: its `at`, `device` and `id` (its place in the total order) */
  e?: [number, string, string]
  /** The server's latest decision about the message (docs/moderation.md): its place in the total order, and 1 if it removes the message. */
  m?: [number, string, string, 0 | 1]
  /** The same about the edit in force. */
  me?: [number, string, string, 0 | 1]
}

export interface IndexedMessage extends StoredMessage {
  id: string
}

export const SHARD_SIZE = 2_000

const OPTIONS: Options<IndexedMessage> = {
  fields: ['x'],
  storeFields: ['c', 'a', 't', 'x', 'e', 'm', 'me'],
  searchOptions: { prefix: true, combineWith: 'AND' },
}

export interface ShardState {
  index: AsPlainObject
  from: number
  to: number
  /** Messages ever added: the shard takes no more once it reaches SHARD_SIZE, even after deletes. */
  added: number
}

export class Shard {
  readonly mini: MiniSearch<IndexedMessage>
  /** The earliest and latest `at` of the messages added (a deleted one may have widened it). */
  from: number
  to: number
  added: number
  /** Changed since it was last written. */
  dirty = false

  constructor(state?: ShardState) {
    this.mini = state ? MiniSearch.loadJS(state.index, OPTIONS) : new MiniSearch(OPTIONS)
    this.from = state?.from ?? Infinity
    this.to = state?.to ?? -Infinity
    this.added = state?.added ?? 0
  }

  get full(): boolean {
    return this.added >= SHARD_SIZE
  }

  has(id: string): boolean {
    return this.mini.has(id)
  }

  stored(id: string): StoredMessage | undefined {
    return this.mini.getStoredFields(id) as StoredMessage | undefined
  }

  add(message: IndexedMessage): void {
    this.mini.add(message)
    this.from = Math.min(this.from, message.t)
    this.to = Math.max(this.to, message.t)
    this.added++
    this.dirty = true
  }

  replace(message: IndexedMessage): void {
    this.mini.replace(message)
    this.dirty = true
  }

  discard(id: string): void {
    this.mini.discard(id)
    this.dirty = true
  }

  state(): ShardState {
    return { index: this.mini.toJSON(), from: this.from, to: this.to, added: this.added }
  }
}
