/**
 * Search on the device (issue 18; docs/search.md). The client hands every document handle
 * it sees to `observe`: those it opens, and those the repo creates for sync messages from
 * the server, whether or not a conversation is open in this session. For each segment,
 * the index keeps the heads it has indexed up to; a change indexes only what the segment
 * gained since (segment-events.ts), and a segment loaded from storage with the same heads
 * costs nothing. A change only marks its segment: the segments marked are indexed together
 * with the batch, BATCH_DELAY_MS later (or at once when searched), so the work is off the
 * path of the message (issue 15, item 5) and a burst of changes costs one diff a segment. Batches are journaled in the replica's storage (index-store.ts), so a
 * cold start loads the index instead of rebuilding it, in the background.
 */
import { Automerge, encodeHeads, type DocHandle, type StorageAdapterInterface } from '@automerge/automerge-repo/slim'
import { documentType, DocumentTypes, readString, type ParleyEvent, type SegmentDoc } from '@parley/core'
import type { ClientContext } from '../context.ts'
import { IndexStore, type Batch } from './index-store.ts'
import { MessageIndex } from './message-index.ts'
import { resolveSearch, type ResolvedSearch, type SearchOptions, type SearchResult } from './query.ts'
import { eventsSince, sameHeads } from './segment-events.ts'

/** The events the index reads; the others (reactions, membership, receipts) are not journaled. */
const JOURNALED = new Set<ParleyEvent['type']>(['message', 'edit', 'delete', 'moderated'])
/** Batches are written this long after their first event, so a sync of many events is one write. */
const BATCH_DELAY_MS = 100

export interface SearchStats {
  /** Messages in the index. */
  documents: number
  /** Messages the index held when loaded from storage at start (0 for a new index). */
  loadedAtStart: number
  /** Events parsed from segments since start (not counting the journal replay). */
  eventsIndexed: number
  /** Bytes of the persisted index, as last written (0 with memory storage, where it is not written). */
  bytes: number
  /** How long loading it took at start (ms). */
  loadMs: number
}

type Handle = DocHandle<unknown>

interface Loaded {
  index: MessageIndex
  /** Each segment's heads the index covers. */
  heads: Map<string, string[]>
  loadedAtStart: number
  loadMs: number
}

export class SearchIndex {
  /** Undefined where nothing could read the index back (memory storage): then it lives in memory only. */
  readonly #store: IndexStore | undefined
  readonly #context: Pick<ClientContext, 'limits' | 'recent'>
  /** Segments whose heads moved since they were indexed, with their newest document; indexed with the batch. */
  readonly #stale = new Map<string, { handle: Handle; doc: unknown }>()
  readonly #onError: (error: unknown) => void
  /** Set once the stored index is loaded; until then changes wait (their heads are diffed from the stored ones then). */
  #loaded: Loaded | undefined
  readonly #ready: Promise<void>
  readonly #observed = new Map<string, { handle: Handle; listener: (payload: { doc: unknown }) => void }>()
  #batch: Batch = { events: [], heads: [] }
  readonly #batchHeads = new Map<string, string[]>()
  #timer: ReturnType<typeof setTimeout> | undefined
  #writes: Promise<void> = Promise.resolve()
  #eventsIndexed = 0
  #closed = false

  /**
   * Starts loading the stored index in the background: a client opens without waiting for
   * it (at 100,000 messages it takes seconds: benchmarks/RESULTS.md, "search"); `search`
   * waits for it. `persist: false` (memory storage, storage.ts): the adapter dies with the
   * client and no later start reads it, so the index is neither loaded nor written there;
   * writing it cost each batch a journal entry and every few hundred messages a shard
   * serialized and gzipped, some 20 ms in which a message arriving waited (issue 15).
   */
  constructor(storage: StorageAdapterInterface, context: Pick<ClientContext, 'limits' | 'recent'>, onError: (error: unknown) => void, persist = true) {
    this.#store = persist ? new IndexStore(storage) : undefined
    this.#context = context
    this.#onError = onError
    this.#ready = this.#load()
    this.#ready.catch(onError)
  }

  async #load(): Promise<void> {
    const start = performance.now()
    const { meta, shards, batches } = this.#store ? await this.#store.load() : { meta: undefined, shards: [], batches: [] }
    let index: MessageIndex
    let heads: Map<string, string[]>
    try {
      index = new MessageIndex(meta && { meta, shards })
      heads = new Map(meta?.heads)
    } catch {
      // Unreadable (another MiniSearch format): rebuilt as segments load.
      index = new MessageIndex()
      heads = new Map()
    }
    for (const batch of batches) {
      for (const [conversation, event] of batch.events) index.apply(conversation, event)
      for (const [segment, segmentHeads] of batch.heads) heads.set(segment, segmentHeads)
    }
    this.#loaded = { index, heads, loadedAtStart: index.size, loadMs: performance.now() - start }
    for (const { handle } of this.#observed.values()) if (handle.isReady()) this.#catchUp(handle, handle.doc())
  }

  /** Follows a document handle; only segments are indexed. Idempotent. */
  observe(handle: Handle): void {
    if (this.#closed || this.#observed.has(handle.documentId)) return
    // The payload's doc: heads change once before the handle is ready (the document arriving).
    const listener = ({ doc }: { doc: unknown }): void => {
      this.#stale.set(handle.documentId, { handle, doc })
      this.#schedule()
    }
    this.#observed.set(handle.documentId, { handle, listener })
    handle.on('heads-changed', listener)
    if (handle.isReady()) this.#catchUp(handle, handle.doc())
  }

  #catchUp(handle: Handle, current: unknown): void {
    const loaded = this.#loaded
    if (!loaded) return // caught up once the index is loaded
    const doc = current as SegmentDoc | undefined
    const type = documentType(doc)
    if (type === undefined) return // not here yet
    if (type !== DocumentTypes.segment) return this.#forget(handle)
    const conversation = readString(doc!.conversation)
    if (!conversation) return
    const id = handle.documentId
    const now: string[] = encodeHeads(Automerge.getHeads(doc!))
    const since = loaded.heads.get(id)
    if (sameHeads(since, now)) return
    const events = eventsSince(doc!, since, now, this.#context.limits, json => this.#context.recent.take(json))
    this.#eventsIndexed += events.length
    for (const event of events) {
      loaded.index.apply(conversation, event)
      if (this.#store && JOURNALED.has(event.type)) this.#batch.events.push([conversation, event])
    }
    loaded.heads.set(id, now)
    if (this.#store) this.#batchHeads.set(id, now)
    this.#schedule()
  }

  /** Indexes what the segments marked since the last batch gained. */
  #catchUpStale(): void {
    if (!this.#loaded) return // #load catches up every observed handle
    for (const { handle, doc } of this.#stale.values()) this.#catchUp(handle, doc)
    this.#stale.clear()
  }

  #forget(handle: Handle): void {
    const observed = this.#observed.get(handle.documentId)
    if (observed) handle.off('heads-changed', observed.listener)
  }

  /** Checks the query at once (a bad one rejects), then answers once the index is loaded. */
  search(query: string, options?: SearchOptions): Promise<SearchResult[]> {
    const search = resolveSearch(query, options)
    return this.#ready.then(() => {
      this.#catchUpStale()
      return this.#search(search)
    })
  }

  #search(search: ResolvedSearch): SearchResult[] {
    if (search.query === '') return []
    const matches = this.#loaded!.index.search({
      text: search.query,
      limit: search.limit,
      after: search.after,
      before: search.before,
      accept: message => (search.conversation === undefined || message.c === search.conversation) && (search.author === undefined || message.a === search.author),
    })
    return matches.map(match => ({
      conversation: match.c,
      id: match.id,
      author: match.a,
      at: match.t,
      text: match.x,
      matches: match.matches,
      score: match.score,
    }))
  }

  async stats(): Promise<SearchStats> {
    await this.#ready
    this.#catchUpStale()
    const { index, loadedAtStart, loadMs } = this.#loaded!
    return { documents: index.size, loadedAtStart, eventsIndexed: this.#eventsIndexed, bytes: this.#store?.bytes ?? 0, loadMs }
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return
    this.#timer = setTimeout(() => void this.flush(), BATCH_DELAY_MS)
    ;(this.#timer as { unref?: () => void }).unref?.()
  }

  /** Writes what was indexed since the last write; resolves once it is stored. */
  flush(): Promise<void> {
    this.#catchUpStale() // before the timer is cleared: what it indexes needs no timer of its own
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#batch.events.length > 0 || this.#batchHeads.size > 0) {
      const batch: Batch = { events: this.#batch.events, heads: [...this.#batchHeads] }
      this.#batch = { events: [], heads: [] }
      this.#batchHeads.clear()
      const { index, heads } = this.#loaded! // a batch holds events only once loaded
      const store = this.#store! // nothing is batched without a store
      this.#writes = this.#writes.then(async () => {
        if (!(await store.append(batch))) return
        // The shards are taken from memory, which may already hold a batch not yet
        // journaled: replaying that batch later changes nothing (message-index.ts).
        const changed = index.shards.flatMap((shard, i) => (shard.dirty ? [[i, shard.state()] as const] : []))
        for (const shard of index.shards) shard.dirty = false
        await store.write(changed as never, { shards: index.shards.length, heads: [...heads], ...index.meta() })
      }).catch(this.#onError)
    }
    return this.#writes
  }

  async close(): Promise<void> {
    if (this.#closed) return
    await this.#ready.catch(this.#onError)
    await this.flush()
    this.#closed = true
    for (const { handle, listener } of this.#observed.values()) handle.off('heads-changed', listener)
    this.#observed.clear()
  }
}
