/**
 * One document on a connection of Parley's replaying load generator
 * (lib/replay-connection.ts): automerge-repo's sync for it, without an Automerge document
 * once it is synced.
 *
 * - Opening (`request`) or creating (`offer`): the document is synced as any client syncs
 *   it, with Automerge's own sync functions on a document, so the server's state for this
 *   peer is what a real client's would be; then, once `raw()` (a created document: as soon
 *   as the server holds all of it), the document is dropped.
 * - Receiving: each sync message from the server is decoded with the server's codec; each
 *   change's header (hash, deps, actor, seq) is read without decoding its operations, which
 *   says which recorded message it is. The answer is what Automerge would send once it
 *   applied them: its new heads, nothing needed. With `reportWhileSyncing`, changes that
 *   arrive while the document is still an Automerge one are reported too, so none is
 *   missed when a segment is opened while it is being written.
 * - A document may instead stay a real client's (Automerge document and sync state, as
 *   fanout/automerge-peer.ts): `onDoc` reads it after each sync message.
 * - Sending: a recorded sync message as is (`sendData`), or a recorded change wrapped in
 *   the sync message the client would send now (`sendChange`: its heads include what it
 *   received meanwhile).
 * - Acknowledging as the client library does (clients/sdk/src/network/acknowledgements.ts):
 *   an answer that carries no changes and asks for none waits up to DEFAULT_ACK_DELAY_MS,
 *   the newest replacing the one held; anything else sent for the document replaces it.
 *
 * `ReplayMember.join` is the one-document case: a connection of its own, one document.
 */
import { next as Automerge } from '@automerge/automerge'
import { DEFAULT_ACK_DELAY_MS } from '@parley/client'
import { ReplayConnection } from './replay-connection.ts'
import { changeChunks, clientSyncMessage, decodeServerSync, HeadsTracker, parseChangeChunk, type ChangeMeta } from './replay-wire.ts'

/** How soon a document the server did not have is asked for again; and a request with no answer. */
const RETRY_MS = 100
const ASK_AGAIN_MS = 1000
/** How often deps an own change was sent before are asked for again. */
const NEED_AGAIN_MS = 500

/** Changes the documents of this process received from the server, and how many of them they held already (a sign of resends). */
export const received = { changes: 0, held: 0 }

export interface ReplayDocumentOptions {
  /** Answer the server's messages as a client would (receivers); a replaying sender's recorded frames already hold its answers. Default true. */
  answer?: boolean
  /** Each change that arrived (not known before), with the arrival time from the connection's clock. */
  onChange?: (change: ChangeMeta, at: number) => void
  /** Report changes that arrive before `raw()` too (a segment opened while it is written), not only after. */
  reportWhileSyncing?: boolean
  /** Stays an Automerge document: `sendChange` applies the change and syncs as Automerge does (a conversation's head: few changes). */
  automerge?: boolean
}

export class ReplayDocument {
  readonly documentId: string
  readonly #connection: ReplayConnection
  readonly #answer: boolean
  readonly #onChange: ((change: ChangeMeta, at: number) => void) | undefined
  readonly #reportWhileSyncing: boolean
  readonly #automerge: boolean
  #doc: Automerge.Doc<unknown> | undefined = Automerge.init()
  #syncState = Automerge.initSyncState()
  #heads = new HeadsTracker()
  #sharedHeads: readonly string[] = []
  #lastSent = ''
  /** Own changes the server has not yet shown it holds (they go in our `have` filter). */
  #ownUnshared: string[] = []
  #answerScheduled = false
  /** The acknowledgement waiting to go (see the header), and its timer. */
  #heldAck: Uint8Array | undefined
  #ackTimer: NodeJS.Timeout | undefined
  /**
   * Deps of own changes sent before they arrived here (open loop). A client holding the
   * change would hold them: the server, seeing our heads, takes them as held and would not
   * send them, so they are asked for (`need`) until they arrive; and so are the deps of
   * changes that arrive when this device lacks them (the server took them as held, from
   * an own change sent ahead of them).
   */
  readonly #missing = new Set<string>()
  #needScheduled = false
  /** Own changes due before the document went raw: sent once it is. */
  #queued: { bytes: Uint8Array; hash: string; deps: readonly string[] }[] = []
  /** A created document goes raw once the server holds every change of it. */
  #rawWhenShared = false
  /** A member that stays a real client (never `raw()`): its document after each sync message. */
  onDoc: ((doc: Automerge.Doc<unknown>) => void) | undefined
  /** Sync messages with a `need` from the server (it lacks a dep of ours): counted, not expected. */
  needs = 0

  constructor(connection: ReplayConnection, documentId: string, options: ReplayDocumentOptions) {
    this.#connection = connection
    this.documentId = documentId
    this.#answer = options.answer ?? true
    this.#onChange = options.onChange
    this.#reportWhileSyncing = options.reportWhileSyncing ?? false
    this.#automerge = options.automerge ?? false
  }

  /** Asks for the document (automerge-repo's `request`) and resolves once it is synced. */
  async request(): Promise<void> {
    this.#sendAutomerge('request')
    // A request that finds the document nowhere yet may go unanswered (the server's repo
    // waits for a peer that has it): asked again, as the client library asks again for
    // listed segments that are missing.
    const again = setInterval(() => this.#askAgain(), ASK_AGAIN_MS)
    try {
      await this.#connection.until(() => this.#synced() && !this.#answerScheduled, `document ${this.documentId}`)
    } finally {
      clearInterval(again)
    }
  }

  #synced(): boolean {
    return (this.#doc as { type?: unknown } | undefined)?.type !== undefined
  }

  /** A request from scratch, unless the document arrived meanwhile. */
  #askAgain(): void {
    if (!this.#doc || this.#synced() || this.failure) return
    this.#syncState = Automerge.initSyncState()
    this.#sendAutomerge('request')
  }

  /**
   * The server has none of it (yet): a segment its head lists before the writer's changes
   * arrive. Asked again shortly, from scratch, as the client library asks again for listed
   * segments that were missing (clients/sdk/src/event-log.ts); once synced, the answer to
   * an earlier request, ignored.
   */
  unavailable(): void {
    if (this.#doc && !this.#synced()) setTimeout(() => this.#askAgain(), RETRY_MS)
  }

  /** Holds `changes` (a document this device made) and offers them as automerge-repo's synchronizer does; raw once the server has them all. */
  offer(changes: readonly Uint8Array[]): void {
    ;[this.#doc] = Automerge.applyChanges(this.#doc!, [...changes])
    for (const change of changes) {
      const meta = parseChangeChunk(change)
      this.#heads.learn(meta.hash, meta.deps)
    }
    this.#rawWhenShared = true
    this.#sendAutomerge('sync')
  }

  /** The document as synced (before `raw()`). */
  get doc(): Automerge.Doc<unknown> {
    if (!this.#doc) throw new Error('the document was dropped')
    return this.#doc
  }

  get isRaw(): boolean {
    return this.#doc === undefined
  }

  get failure(): Error | undefined {
    return this.#connection.failure
  }

  /** From now on without Automerge: what the document held becomes heads and known hashes. */
  raw(): void {
    const doc = this.doc
    this.#heads = new HeadsTracker()
    for (const change of Automerge.getAllChanges(doc)) {
      const meta = parseChangeChunk(change)
      this.#heads.learn(meta.hash, meta.deps)
    }
    this.#sharedHeads = this.#syncState.sharedHeads
    this.#lastSent = this.#answerKey(this.#heads.heads())
    this.#doc = undefined
    for (const change of this.#queued.splice(0)) this.sendChange(change.bytes, change.hash, change.deps)
  }

  /** A recorded sync message, sent as is. */
  sendData(data: Uint8Array): void {
    this.#heldAck = undefined
    this.#connection.sendSync('sync', this.documentId, data)
  }

  /** Holds an answer that only acknowledges, as the client library does. */
  #acknowledge(data: Uint8Array): void {
    this.#heldAck = data
    this.#ackTimer ??= setTimeout(() => {
      this.#ackTimer = undefined
      const held = this.#heldAck
      if (held) this.sendData(held)
    }, DEFAULT_ACK_DELAY_MS).unref()
  }

  /**
   * A recorded change, in the sync message a client holding it and all it received would
   * send. Sent when due even if this member has not yet received all of its deps (open
   * loop: a server that is behind gets the change early and holds it until they arrive).
   * A document not raw yet (one this device created, while the server has not taken it)
   * holds the change until it is, then sends it the same way; one that stays an Automerge
   * document (`automerge`) applies it and syncs.
   */
  sendChange(bytes: Uint8Array, hash: string, deps: readonly string[]): void {
    if (this.#doc && this.#automerge) {
      // Applied once its deps are here (Automerge holds it until then), then synced.
      ;[this.#doc] = Automerge.applyChanges(this.#doc, [bytes])
      this.#heads.learn(hash, deps)
      this.#sendAutomerge('sync')
      return
    }
    if (this.#doc) {
      this.#queued.push({ bytes, hash, deps })
      return
    }
    for (const dep of deps) if (!this.#heads.knows(dep)) this.#missing.add(dep)
    this.#heads.learn(hash, deps)
    this.#ownUnshared.push(hash)
    const heads = this.#heads.heads()
    this.#lastSent = this.#answerKey(heads)
    this.sendData(clientSyncMessage(heads, this.#sharedHeads, this.#ownUnshared, [bytes], [...this.#missing]))
    this.#askForMissing()
  }

  /** Closes the whole connection (for a document with a connection of its own: ReplayMember.join). */
  close(): void {
    this.#connection.close()
  }

  /** A sync message from the server for this document. */
  receive(data: Uint8Array): void {
    if (this.#doc) this.#receiveAutomerge(data)
    else this.#receiveRaw(data)
  }

  #receiveAutomerge(data: Uint8Array): void {
    if (this.#onChange && this.#reportWhileSyncing) this.#report(decodeServerSync(data).changes, this.#connection.clock())
    ;[this.#doc, this.#syncState] = Automerge.receiveSyncMessage(this.#doc!, this.#syncState, data)
    this.onDoc?.(this.#doc)
    this.#scheduleAnswer(() => {
      this.#sendAutomerge('sync', true)
      const shared = new Set(this.#syncState.sharedHeads)
      if (this.#rawWhenShared && this.#doc && Automerge.getHeads(this.#doc).every(head => shared.has(head))) this.raw()
    })
  }

  #sendAutomerge(type: 'request' | 'sync', answering = false): void {
    if (!this.#doc) return
    const [state, data] = Automerge.generateSyncMessage(this.#doc, this.#syncState)
    this.#syncState = state
    if (!data) return
    const decoded = answering ? Automerge.decodeSyncMessage(data) : undefined
    if (decoded && decoded.changes.length === 0 && decoded.need.length === 0) return this.#acknowledge(data)
    this.#heldAck = undefined
    this.#connection.sendSync(type, this.documentId, data)
  }

  #report(changes: readonly Uint8Array[], at: number, askForDeps = false): void {
    for (const change of changeChunks(changes)) {
      const meta = parseChangeChunk(change)
      received.changes++
      if (!this.#heads.learn(meta.hash, meta.deps)) {
        received.held++
        continue
      }
      this.#missing.delete(meta.hash)
      if (askForDeps) for (const dep of meta.deps) if (!this.#heads.knows(dep)) this.#missing.add(dep)
      this.#onChange?.(meta, at)
    }
  }

  #receiveRaw(data: Uint8Array): void {
    const at = this.#connection.clock()
    const message = decodeServerSync(data)
    this.#report(message.changes, at, this.#answer)
    if (message.need.length > 0) this.needs++
    if (!this.#answer) return
    this.#askForMissing()
    if (message.heads.every(head => this.#heads.knows(head))) {
      this.#sharedHeads = message.heads
      if (this.#ownUnshared.length > 0) {
        const ours = new Set(this.#heads.heads())
        this.#ownUnshared = this.#ownUnshared.filter(hash => ours.has(hash) && !message.heads.includes(hash))
      }
    }
    // Automerge answers once its heads moved since it last told the server; the answer
    // waits until this process has read every frame already waiting (as AutomergePeer's).
    this.#scheduleAnswer(() => this.#answerNow())
  }

  /** What the last answer said: heads and what it needed. */
  #answerKey(heads: readonly string[]): string {
    return `${heads.join()}|${[...this.#missing].join()}`
  }

  #answerNow(force = false): void {
    const heads = this.#heads.heads()
    const key = this.#answerKey(heads)
    if (key === this.#lastSent && !force) return
    this.#lastSent = key
    const answer = clientSyncMessage(heads, this.#sharedHeads, this.#ownUnshared, [], [...this.#missing])
    if (this.#missing.size === 0) this.#acknowledge(answer)
    else this.sendData(answer)
  }

  /** Asks again for missing deps every so often until they arrive (the server may have lacked them when first asked). */
  #askForMissing(): void {
    if (this.#needScheduled || this.#missing.size === 0) return
    this.#needScheduled = true
    setTimeout(() => {
      this.#needScheduled = false
      if (this.#missing.size === 0 || this.failure) return
      this.#answerNow(true)
      this.#askForMissing()
    }, NEED_AGAIN_MS).unref()
  }

  #scheduleAnswer(answer: () => void): void {
    if (this.#answerScheduled) return
    this.#answerScheduled = true
    setImmediate(() => {
      this.#answerScheduled = false
      answer()
      this.#connection.wake()
    })
  }
}

export interface ReplayMemberOptions extends ReplayDocumentOptions {
  url: string
  user: string
  documentId: string
  clock: () => number
}

/** One document on a connection of its own (the fanout and throughput benchmarks' members). */
export type ReplayMember = ReplayDocument

export const ReplayMember = {
  /** Connects, joins, and syncs the document as a client does. */
  async join(options: ReplayMemberOptions): Promise<ReplayDocument> {
    const connection = await ReplayConnection.connect(options.url, options.user, options.clock)
    try {
      return await connection.open(options.documentId, options)
    } catch (error) {
      connection.close()
      throw error
    }
  },
}
