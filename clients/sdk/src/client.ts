/**
 * The Parley client: a local replica (automerge-repo over the chosen storage) that syncs
 * with one server whenever it can. Everything works offline; nothing is acknowledged or
 * redelivered by hand — on every (re)connection the sync protocol works out what each
 * side lacks.
 */
import { Automerge, decodeHeads, Repo, type DocHandle, type DocumentId, type UrlHeads } from '@automerge/automerge-repo/slim'
import {
  bareDocumentId,
  documentType,
  DocumentTypes,
  HybridClock,
  inboxDocumentId,
  inboxGenesis,
  initHead,
  initSegment,
  readHead,
  readInbox,
  type ConversationKind,
  type HeadDoc,
  type InboxDoc,
  type SegmentDoc,
  type Priority,
} from '@parley/core'
import { EventEmitter } from 'eventemitter3'
import type { ClientContext } from './context.ts'
import { Conversation } from './conversation.ts'
import { ClientErrorCodes, ParleyError } from './errors.ts'
import { LocalState } from './local-state.ts'
import { nextTurn } from './next-turn.ts'
import { RecentEvents } from './recent-events.ts'
import { ServerConnection, type ConnectionStatus, type ServerHeads } from './network/connection.ts'
import { resolveOptions, type ClientOptions, type ResolvedOptions } from './options.ts'
import { openStorage, type OpenStorage } from './storage.ts'
import { SearchIndex, type SearchOptions, type SearchResult, type SearchStats } from './search/index.ts'
import { tokenGetter, tokenSubject } from './token.ts'
import { Attachments, httpBase } from './attachments/index.ts'

export interface ConversationSummary {
  id: string
  /** Present once the conversation's head is on this device. */
  kind?: ConversationKind
  title?: string
}

interface ClientEvents {
  status: (status: ConnectionStatus) => void
  error: (error: ParleyError) => void
  /** The list of conversations changed (the inbox synced, or one was created here). */
  conversations: (conversations: ConversationSummary[]) => void
}

function sameHeads(a: UrlHeads | undefined, b: UrlHeads): boolean {
  return a !== undefined && a.length === b.length && [...a].sort().join() === [...b].sort().join()
}

/** Whether the document already contains every change up to `heads` (null: the server has none). */
function containsHeads(handle: DocHandle<unknown>, heads: string[] | null | undefined): boolean {
  return !heads || Automerge.hasHeads(handle.doc(), decodeHeads(heads as UrlHeads))
}

const PRIORITY_RANK: Record<Priority, number> = { high: 0, normal: 1, low: 2 }

/** How long a document asked for again may take to arrive. */
const ASK_AGAIN_MS = 5_000

export class ParleyClient extends EventEmitter<ClientEvents> {
  readonly user: string
  readonly #storage: OpenStorage
  readonly #local: LocalState
  readonly #repo: Repo
  readonly #connection: ServerConnection | undefined
  readonly #context: ClientContext
  readonly #opened = new Map<string, Promise<Conversation>>()
  /** Conversations whose opening finished, for what must not wait on a promise. */
  readonly #open = new Map<string, Conversation>()
  readonly #tracked = new Map<string, DocHandle<unknown>>()
  readonly #syncWaiters = new Set<() => void>()
  #search!: SearchIndex
  #inbox!: DocHandle<InboxDoc>
  #closed = false

  private constructor(options: Readonly<ResolvedOptions>, user: string, storage: OpenStorage, local: LocalState) {
    super()
    this.user = user
    this.#storage = storage
    this.#local = local
    if (options.server) {
      this.#connection = new ServerConnection({
        url: options.servers,
        token: tokenGetter(options.token),
        backoff: options.reconnect,
        stableAfterMs: options.reconnect.stableAfterMs,
        onStatus: status => {
          this.emit('status', status)
          this.#notifySyncWaiters()
        },
        onError: error => this.emit('error', error),
        ranks: () => this.#catchUpRanks(),
        mayHoldAcknowledgement: documentId => this.#relayedSegment(documentId),
      })
    }
    this.#repo = new Repo({
      // No document storage for memory (storage.ts): the repo is then an ephemeral peer, whose sync states the server does not keep.
      ...(storage.documents && { storage: storage.adapter }),
      network: this.#connection ? [this.#connection] : [],
      // A fresh peer ID per session: two processes on one replica are two peers.
      peerId: `${local.device}-${Math.random().toString(36).slice(2, 8)}` as never,
      sharePolicy: async () => true,
      // One generated sync message per received change, not two (README "No 100 ms throttle": the patch's opt-in).
      parleySkipRepeatedSync: true,
    })
    // A document the server sends that no conversation here asked for (docs/search.md): index it too.
    this.#repo.on('doc-metrics', event => {
      const handle = event.type === 'receive-sync-message' ? this.#repo.handles[event.documentId as DocumentId] : undefined
      if (handle) this.#search?.observe(handle as DocHandle<unknown>)
    })
    this.#context = {
      repo: this.#repo,
      user,
      device: local.device,
      clock: new HybridClock({ last: local.clockLast }),
      limits: options.limits,
      segmentSize: options.segmentSize,
      pageSize: options.pageSize,
      readCursorIntervalMs: options.readCursorIntervalMs,
      recent: new RecentEvents(),
      find: id => this.#find(id),
      persist: handles => this.#persist(handles),
    }
  }

  static async create(options: ClientOptions): Promise<ParleyClient> {
    const resolved = resolveOptions(options)
    const user = tokenSubject(await tokenGetter(resolved.token)())
    const storage = await openStorage(resolved.storage)
    // Memory storage: the device state and the search index live in memory only (storage.ts).
    const client = new ParleyClient(resolved, user, storage, await LocalState.load(storage.adapter, storage.documents))
    client.#search = new SearchIndex(storage.adapter, client.#context, error => client.emit('error', searchError(error)), storage.documents)
    await client.#openInbox()
    // Files: stored here, uploaded while online (attachments/, docs/attachments.md).
    const attachments = await Attachments.open(storage.adapter, { maxCacheBytes: resolved.maxFileCacheBytes, ...(resolved.server !== undefined && { endpoint: { base: httpBase(resolved.server), token: tokenGetter(resolved.token) } }) })
    client.#context.attachments = attachments
    client.on('status', status => attachments.uploads.setOnline(status === 'online'))
    attachments.uploads.setOnline(client.status === 'online')
    // Documents changed here that the server has not confirmed: load them so they sync.
    await Promise.all([...client.#local.pending].map(id => client.#find(id)))
    return client
  }

  get device(): string {
    return this.#local.device
  }

  /**
   * Why the latest connection attempt failed: PARLEY_ERR_UNREACHABLE, PARLEY_ERR_UNAUTHENTICATED
   * (with the server's reason) or PARLEY_ERR_NOT_SYNC_SERVER. Undefined while online, and
   * before the first attempt has failed.
   */
  get connectionProblem(): ParleyError | undefined {
    return this.#connection?.failure
  }

  get status(): ConnectionStatus {
    return this.#connection?.status ?? 'offline'
  }

  async createConversation(init: { kind?: ConversationKind; title?: string; members?: string[] } = {}): Promise<Conversation> {
    this.#assertOpen()
    const head = this.#repo.create<HeadDoc>()
    const segment = this.#repo.create<SegmentDoc>()
    segment.change(doc => initSegment(doc, head.documentId))
    head.change(doc =>
      initHead(doc, {
        kind: init.kind ?? 'group',
        title: init.title ?? '',
        creator: this.user,
        members: init.members ?? [],
        at: this.#context.clock.tick(),
        firstSegment: segment.documentId,
      }),
    )
    await Promise.all([this.#persist([head, segment]), this.#local.addConversation(head.documentId)])
    const opened = this.#remember(head.documentId, Conversation.open(this.#context, head, segment))
    this.emit('conversations', this.conversations())
    return opened
  }

  /**
   * Full-text search over the messages on this device, whether or not their conversation
   * is open (docs/search.md). Newest first; deleted messages are never found and
   * edited ones only by their latest text. Resolves once the stored index is loaded (it
   * loads in the background from the client's start); a bad query or option rejects with
   * PARLEY_ERR_INVALID_OPTION.
   */
  async search(query: string, options?: SearchOptions): Promise<SearchResult[]> {
    this.#assertOpen()
    return this.#search.search(query, options)
  }

  /** How big the search index is and how it was built (tests and benchmarks read it). */
  searchStats(): Promise<SearchStats> {
    return this.#search.stats()
  }

  /** Opens a conversation by ID (bare or `automerge:` URL), from this device or the server. */
  conversation(idOrUrl: string): Promise<Conversation> {
    this.#assertOpen()
    const id = bareDocumentId(idOrUrl)
    return this.#opened.get(id) ?? this.#remember(id, this.#openConversation(id))
  }

  /** The conversation if it is already open on this client, without waiting (UI bindings read it synchronously). */
  loadedConversation(idOrUrl: string): Conversation | undefined {
    return this.#closed ? undefined : this.#open.get(bareDocumentId(idOrUrl))
  }

  #remember(id: string, opening: Promise<Conversation>): Promise<Conversation> {
    this.#opened.set(id, opening)
    opening.then(
      conversation => this.#open.set(id, conversation),
      () => this.#opened.delete(id),
    )
    return opening
  }

  /**
   * After a reconnect, conversations whose newest message is high priority sync first
   * and low-priority ones last (the connection sends its catch-up in this order).
   */
  #catchUpRanks(): Map<string, number> {
    const ranks = new Map<string, number>()
    for (const conversation of this.#open.values()) {
      const rank = PRIORITY_RANK[conversation.latestPriority()]
      for (const id of conversation.documentIds()) ranks.set(id, rank)
    }
    return ranks
  }

  /** The conversations this user belongs to (inbox) and those created or opened on this device. */
  conversations(): ConversationSummary[] {
    const ids = new Set([...readInbox(this.#inbox.doc()), ...this.#local.conversations])
    return [...ids].map(id => {
      const head = this.#tracked.get(id)?.doc() as HeadDoc | undefined
      if (documentType(head) !== DocumentTypes.head) return { id }
      const { kind, title } = readHead(head!)
      return { id, kind, title }
    })
  }

  /**
   * Opens every known conversation, then resolves once the server holds everything this
   * device has and this device holds everything the server had when asked, for every
   * open document. Rejects with PARLEY_ERR_SYNC_TIMEOUT after `timeout` ms (default 10 s).
   */
  async sync(options: { timeout?: number } = {}): Promise<void> {
    this.#assertOpen()
    const connection = this.#connection
    if (!connection) throw new ParleyError(ClientErrorCodes.INVALID_OPTION, 'this client has no server to sync with')
    const timeout = options.timeout ?? 10_000
    const deadline = Date.now() + timeout
    for (;;) {
      // Syncing the inbox may reveal conversations; opening them may reveal segments.
      const known = this.conversations().length
      await Promise.all(this.conversations().map(({ id }) => this.conversation(id).catch(() => undefined)))
      await this.#until(() => this.#allAcknowledged(), deadline, timeout)
      const handles = [...this.#tracked.values()]
      let serverHeads: ServerHeads
      try {
        serverHeads = await connection.requestHeads(handles.map(handle => handle.documentId))
      } catch {
        continue // the connection dropped: start over once it is back
      }
      await this.#until(() => handles.every(handle => containsHeads(handle, serverHeads[handle.documentId])), deadline, timeout)
      // A segment its head lists that is not here, though the server holds it (its writer
      // uploaded it after this device first asked): wait until it arrives, then check again.
      const missing = [...this.#open.values()].flatMap(conversation => conversation.missingSegments())
      if (missing.length > 0) {
        let held: ServerHeads
        try {
          held = await connection.requestHeads(missing)
        } catch {
          continue
        }
        const arriving = missing.filter(id => held[id])
        if (arriving.length > 0) {
          await Promise.all([...this.#open.values()].map(conversation => conversation.retryMissingSegments()))
          await this.#until(() => arriving.every(id => this.#tracked.has(id)), deadline, timeout)
          continue
        }
      }
      if (this.#allAcknowledged() && this.conversations().length === known) return
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    // Each writes a read cursor move still waiting before the documents are flushed.
    await Promise.all([...this.#opened.values()].map(async opened => (await opened.catch(() => undefined))?.close()))
    // Not repo.shutdown(): it flushes every handle, and one that never became available throws.
    this.#connection?.disconnect()
    await Promise.all([this.#repo.flush([...this.#tracked.keys()] as DocumentId[]), this.#local.flush(), this.#search.close(), this.#context.attachments?.close()])
    await this.#storage.close()
  }

  /** Files this device sent and fetched: upload progress (`uploads.on('upload', …)`, `uploads.retry()`) and the bytes (`file(hash)`). */
  get attachments(): Attachments {
    this.#assertOpen()
    return this.#context.attachments!
  }

  /** Test and tooling hook: drop the connection as a network failure would. */
  dropConnection(): void {
    this.#connection?.dropConnection()
  }

  async #openConversation(id: string): Promise<Conversation> {
    const head = await this.#find<HeadDoc>(id)
    if (!head) throw new ParleyError(ClientErrorCodes.CONVERSATION_NOT_FOUND, `conversation ${id} is not on this device and the server does not have it (or is unreachable)`)
    await this.#local.addConversation(id)
    return Conversation.open(this.#context, head)
  }

  async #openInbox(): Promise<void> {
    const id = inboxDocumentId(this.user)
    const stored = (await this.#storage.adapter.loadRange([id])).length > 0
    // The genesis change is the same bytes everywhere, so creating it here never forks the inbox.
    this.#inbox = stored ? await this.#repo.find<InboxDoc>(id as DocumentId) : this.#repo.import<InboxDoc>(inboxGenesis(this.user), { docId: id as DocumentId })
    this.#track(this.#inbox)
    this.#inbox.on('change', () => this.emit('conversations', this.conversations()))
  }

  async #find<T>(id: string): Promise<DocHandle<T> | undefined> {
    const unavailable = this.#repo.handles[id as DocumentId] as DocHandle<T> | undefined
    if (unavailable?.state === 'unavailable') return this.#askAgain(unavailable)
    try {
      const handle = await this.#repo.find<T>(id as DocumentId)
      this.#track(handle)
      return handle
    } catch {
      return undefined
    }
  }

  /**
   * automerge-repo never asks again for a document nobody had when it first asked: its
   * handle stays "unavailable" (a segment whose writer had not uploaded it yet; a document
   * the server lost and a peer has since restored). Ask the server once more, as a device
   * that has nothing of it; its answer makes the handle ready. Undefined if it does not
   * come within a few seconds.
   */
  async #askAgain<T>(handle: DocHandle<T>): Promise<DocHandle<T> | undefined> {
    const server = this.#repo.peers[0]
    if (!server || this.status !== 'online') return undefined
    const [, data] = Automerge.generateSyncMessage(Automerge.init(), Automerge.initSyncState())
    this.#connection!.send({ type: 'request', senderId: this.#repo.peerId, targetId: server, documentId: handle.documentId, data: data! })
    let timer: ReturnType<typeof setTimeout> | undefined
    const ready = await Promise.race([
      handle.whenReady().then(
        () => true,
        () => false,
      ),
      new Promise<false>(resolve => (timer = setTimeout(() => resolve(false), ASK_AGAIN_MS))),
    ])
    clearTimeout(timer)
    if (!ready) return undefined
    this.#track(handle)
    return handle
  }

  #track(handle: DocHandle<unknown>): void {
    if (this.#tracked.has(handle.documentId)) return
    this.#tracked.set(handle.documentId, handle)
    this.#search.observe(handle)
    const check = (): void => {
      if (this.#local.pending.has(handle.documentId) && this.#handleSynced(handle)) this.#local.removePending(handle.documentId)
      this.#notifySyncWaiters()
    }
    handle.on('remote-heads', check)
    handle.on('heads-changed', check)
    // A conversation's kind and title live in its head: the list changes when a head
    // arrives and whenever it changes.
    const headChanged = (): void => {
      if (this.listenerCount('conversations') > 0 && documentType(handle.doc()) === DocumentTypes.head) this.emit('conversations', this.conversations())
    }
    handle.on('change', headChanged)
    if (handle.isReady()) headChanged()
  }

  async #persist(handles: DocHandle<unknown>[]): Promise<void> {
    const ids = handles.map(handle => handle.documentId)
    for (const handle of handles) this.#track(handle)
    // Marked pending before the flush so a fast server confirmation cannot be missed.
    const pending = this.#local.addPending(ids, this.#context.clock.last)
    pending.catch(() => undefined) // awaited below, after a turn: not unhandled meanwhile
    // The repo's sync message first, then the save, which computes the documents' new
    // bytes synchronously (next-turn.ts); the write still resolves once they are stored.
    await nextTurn()
    await Promise.all([this.#repo.flush(ids), pending])
  }

  /**
   * A segment the server serves from its relay core, which forwards new changes whatever it
   * last heard from us: our acknowledgements of it may wait (network/acknowledgements.ts).
   * The server's Repo (heads, inboxes; segments with --no-relay-core) waits for them
   * before it sends more.
   */
  #relayedSegment(documentId: string): boolean {
    if ((this.#connection?.serverMetadata as { relaysSegments?: boolean } | undefined)?.relaysSegments !== true) return false
    const handle = this.#repo.handles[documentId as DocumentId]
    return handle?.isReady() === true && documentType(handle.doc()) === DocumentTypes.segment
  }

  #handleSynced(handle: DocHandle<unknown>): boolean {
    const storageId = this.#connection?.serverMetadata?.storageId
    return storageId !== undefined && sameHeads(handle.getSyncInfo(storageId)?.lastHeads, handle.heads())
  }

  /** The first few documents the server has not acknowledged as they are here, for an error message: `: <id> (<kind>, …)`. */
  #differing(): string {
    const storageId = this.#connection?.serverMetadata?.storageId
    const differing = [...this.#tracked.values()].filter(handle => !this.#handleSynced(handle))
    const described = differing.slice(0, 3).map(handle => {
      const acknowledged = storageId === undefined ? undefined : handle.getSyncInfo(storageId)?.lastHeads
      const kind = handle.isReady() ? (documentType(handle.doc()) ?? 'document') : 'not ready'
      return `${handle.documentId} (${kind}, ${handle.heads()?.length ?? 0} heads here, ${acknowledged === undefined ? 'none acknowledged' : `${acknowledged.filter(head => !handle.heads()?.includes(head)).length} of the acknowledged unknown here`})`
    })
    return described.length === 0 ? '' : `: ${described.join('; ')}${differing.length > 3 ? `; ${differing.length - 3} more` : ''}`
  }

  /** Online, and the server has acknowledged the current heads of every open document. */
  #allAcknowledged(): boolean {
    return this.status === 'online' && [...this.#tracked.values()].every(handle => this.#handleSynced(handle))
  }

  /** Resolves when `condition` holds, checked now and whenever a document or the connection changes. */
  #until(condition: () => boolean, deadline: number, timeout: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer)
        clearInterval(poll)
        this.#syncWaiters.delete(check)
      }
      const check = (): void => {
        if (!condition()) return
        done()
        resolve()
      }
      const timer = setTimeout(() => {
        done()
        const problem = this.#connection?.failure
        const state = this.status === 'online' ? `documents still differ from the server${this.#differing()}` : `the client is ${this.status}${problem ? ` (${problem.message})` : ''}`
        reject(new ParleyError(ClientErrorCodes.SYNC_TIMEOUT, `not in sync after ${timeout} ms: ${state}`))
      }, Math.max(0, deadline - Date.now()))
      this.#syncWaiters.add(check)
      // Not every condition has an event (a segment arriving through another conversation's load): look again now and then.
      const poll = setInterval(check, 100)
      check()
    })
  }

  #notifySyncWaiters(): void {
    for (const waiter of [...this.#syncWaiters]) waiter()
  }

  #assertOpen(): void {
    if (this.#closed) throw new ParleyError(ClientErrorCodes.CLIENT_CLOSED, 'the client is closed')
  }
}

function searchError(error: unknown): ParleyError {
  return new ParleyError(ClientErrorCodes.STORAGE_FAILED, 'the search index could not be written to local storage', { cause: error })
}

export function createClient(options: ClientOptions): Promise<ParleyClient> {
  return ParleyClient.create(options)
}
