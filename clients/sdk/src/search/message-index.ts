/**
 * The full-text index of the messages on this device (MiniSearch), kept event by event
 * with the rules of core projection.ts: only the author's edits and deletes count, the
 * last edit in the total order wins, a delete wins over any edit, and a modifier may
 * arrive before the message it names. Applying an event twice changes nothing, so a
 * journal replayed after a crash, or a segment read again, is harmless.
 */
import { compareEvents, type MessageEvent, type ParleyEvent } from '@parley/core'
import MiniSearch, { type AsPlainObject, type Options } from 'minisearch'

/** What the index stores per message besides its terms (short names: they are persisted for every message). */
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
}

interface IndexedDocument extends StoredMessage {
  id: string
}

type Modifier = Extract<ParleyEvent, { type: 'edit' | 'delete' }>

/** Edits and deletes kept for messages not here (yet): at most this many messages' worth. */
export const MAX_PENDING = 10_000
/** IDs of deleted messages remembered so a late copy of the message is not indexed again. */
export const MAX_DELETED = 100_000

export const MINISEARCH_OPTIONS: Options<IndexedDocument> = {
  fields: ['x'],
  storeFields: ['c', 'a', 't', 'x', 'e'],
  // Messages are short: no per-field boosting, prefix matching for search as you type.
  searchOptions: { prefix: true, combineWith: 'AND' },
}

export interface MessageIndexState {
  index: AsPlainObject
  pending: [string, Modifier[]][]
  deleted: string[]
}

export class MessageIndex {
  readonly mini: MiniSearch<IndexedDocument>
  /** Edits and deletes whose message is not indexed (yet), by the message ID; oldest first. */
  readonly #pending: Map<string, Modifier[]>
  readonly #deleted: Set<string>

  constructor(state?: MessageIndexState) {
    this.mini = state ? MiniSearch.loadJS(state.index, MINISEARCH_OPTIONS) : new MiniSearch(MINISEARCH_OPTIONS)
    this.#pending = new Map(state?.pending)
    this.#deleted = new Set(state?.deleted)
  }

  get size(): number {
    return this.mini.documentCount
  }

  state(): MessageIndexState {
    return { index: this.mini.toJSON(), pending: [...this.#pending], deleted: [...this.#deleted] }
  }

  stored(id: string): StoredMessage | undefined {
    return this.mini.getStoredFields(id) as StoredMessage | undefined
  }

  /** Applies one event of `conversation`; returns whether the index changed. */
  apply(conversation: string, event: ParleyEvent): boolean {
    if (event.type === 'message') return this.#addMessage(conversation, event)
    if (event.type !== 'edit' && event.type !== 'delete') return false
    const stored = this.stored(event.target)
    if (!stored) {
      if (!this.#deleted.has(event.target)) this.#hold(event)
      return false
    }
    return this.#modify(event.target, stored, event)
  }

  #addMessage(conversation: string, message: MessageEvent): boolean {
    if (this.mini.has(message.id) || this.#deleted.has(message.id)) return false
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
    this.mini.add({ id: message.id, ...stored })
    return true
  }

  #modify(id: string, stored: StoredMessage, modifier: Modifier): boolean {
    if (modifier.author !== stored.a) return false
    if (modifier.type === 'delete') {
      this.mini.discard(id)
      this.#remember(id)
      return true
    }
    const edited = withEdit(stored, modifier)
    if (!edited) return false
    this.mini.replace({ id, ...edited })
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

/** The message with `edit` applied, or undefined if an edit later in the total order is already in force. */
function withEdit(stored: StoredMessage, edit: Extract<Modifier, { type: 'edit' }>): StoredMessage | undefined {
  if (stored.e) {
    const [at, device, id] = stored.e
    if (compareEvents({ at, device, id }, edit) >= 0) return undefined
  }
  return { ...stored, x: edit.text, e: [edit.at, edit.device, edit.id] }
}
