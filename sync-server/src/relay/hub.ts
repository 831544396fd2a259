/**
 * The relay core in the live server (issue 15), for segment documents: the one module
 * that owns their change logs, each peer's sync state per segment, their persistence
 * (log-storage.ts, automerge-repo's key layout, so a server without the relay core reads
 * the same data) and the eviction of idle logs. The network adapter hands it `sync` and
 * `request` messages for segments instead of the repo (network/server-adapter.ts
 * `relay`); the HTTP API writes segments through `changeAsServer`.
 *
 * Per message: decoded once, checked (segment-ingress.ts), appended, forwarded as one
 * shared message to the peers in sync, acknowledged to the sender (segment-peers.ts);
 * no Automerge document. In a cluster, what this node accepts goes on the bus
 * (bus-outbox.ts), and what other nodes accepted comes in through other-nodes.ts.
 */
import { next as A } from '@automerge/automerge'
import type { DocumentId, Message, PeerId } from '@automerge/automerge-repo'
import { isInboxNamespaceId, SEGMENT_BYTES, SEGMENT_SIZE, type ParleyEvent, type SegmentDoc } from '@parley/core'
import { randomBytes } from 'node:crypto'
import type { Violation } from '../access/rules.ts'
import { DECODE_BUDGET, decodeChanges, type ChargeWork } from '../access/chunks.ts'
import { checkSegmentLogChanges, isViolation, segmentGenesis } from '../access/segment-log-rules.ts'
import { CloseCodes } from '../close-codes.ts'
import { decodeSyncData } from '../network/frames.ts'
import type { Acknowledging } from '../network/server-adapter.ts'
import { BusOutbox } from './bus-outbox.ts'
import { ChangeLog, type LoggedChange } from './change-log.ts'
import { LogStorage } from './log-storage.ts'
import { createPeerState, decodeSyncMessage, receive, type PeerState, type SyncMessage } from './peer-sync.ts'
import { SegmentPeers } from './segment-peers.ts'
import { checkSegmentIngress, rememberAuthors, type SegmentEffects } from './segment-ingress.ts'
import { foldLog, serially, toUnload, type Segment } from './segment.ts'
import { ServerChanges } from './server-change.ts'
import type { RelayHubOptions } from './hub-options.ts'
import { OtherNodes } from './other-nodes.ts'

export type { RelayHooks, RelayHubOptions } from './hub-options.ts'

/** The owner the registry records for the server's own changes (conversations/service.ts). */
const SERVER_ACTOR_OWNER = '@server'

export class RelayHub {
  readonly #options: RelayHubOptions
  readonly #storage: LogStorage
  readonly #segments = new Map<string, Promise<Segment>>()
  readonly #peerSegments = new Map<PeerId, Set<string>>()
  /** One actor for every change this server process makes (its seq continues in each log). */
  readonly #actor = randomBytes(16).toString('hex')
  /**
   * Segments unloaded while peers still sync them (past maxLoaded): only their peers' small
   * sync states stay here; the log is read back from storage when one of them is used again.
   */
  readonly #parked = new Map<string, { peers: Map<PeerId, PeerState>; joined: string | undefined }>()
  /** What goes to each segment's peers (segment-peers.ts). */
  readonly #peers: SegmentPeers
  /** The documents the server's own changes are made on (server-change.ts). */
  readonly #serverChanges = new ServerChanges(this.#actor)
  readonly #sweep: ReturnType<typeof setInterval>
  /** Messages waiting for their writes before their acknowledgement. */
  readonly #finishing = new Set<Promise<unknown>>()
  /** With a bus: accepted changes published, until their write and numbering settle. */
  readonly #outbox: BusOutbox | undefined
  /** With a bus: what the other nodes of the cluster do to the segments held here. */
  readonly #others: OtherNodes | undefined

  constructor(options: RelayHubOptions) {
    this.#options = options
    this.#peers = new SegmentPeers(options.send, options.peerId)
    this.#storage = new LogStorage(options.storage, {
      onWriteError: error => options.log.error({ err: error }, 'could not write accepted changes; they stay queued and the write is retried'),
    })
    this.#outbox = options.bus && new BusOutbox(options.bus, options.log, options.settleMs)
    this.#others =
      options.bus &&
      new OtherNodes({ ...options, bus: options.bus }, {
        loaded: segmentId => this.#segments.get(segmentId),
        wake: segmentId => (this.#parked.has(segmentId) ? this.#open(segmentId) : undefined),
        all: () => this.#segments.values(),
        forward: (segment, changes, before) => this.#peers.forward(segment, changes, before, undefined),
        acceptOwn: (segment, changes) => this.#own(segment, changes, this.#store(segment, changes)),
        store: (segment, changes) => this.#store(segment, changes),
        interest: segment => this.#interest(segment),
      })
    const every = options.idleMs > 0 ? Math.min(5000, Math.max(50, Math.floor(options.idleMs / 2))) : 1000
    this.#sweep = setInterval(() => void this.#evictIdle(), every)
    this.#sweep.unref()
  }

  /**
   * Is this document a segment the hub serves? Registered as one, or unregistered and
   * `data` (a sync message) creates one: its root says so (decoded within the guard's
   * bounds, the work charged to the sender like any decode: docs/security.md, "Rate
   * limits weigh work"; a segment is decoded again by the check, once, when it is created).
   */
  serves(documentId: string, data?: Uint8Array, charge?: ChargeWork): boolean | Promise<boolean> {
    // Held here (every message of a segment in use): answered at once.
    if (this.#segments.has(documentId) || this.#parked.has(documentId)) return true
    return this.#servesUnloaded(documentId, data, charge)
  }

  async #servesUnloaded(documentId: string, data?: Uint8Array, charge?: ChargeWork): Promise<boolean> {
    const { registry } = this.#options
    let entry = await registry.entry(documentId)
    // Sharing PostgreSQL, a cached "unregistered" may be stale: another node may have registered it since.
    if (entry === null && this.#options.bus) entry = await registry.reread(documentId)
    if (entry !== null || !data) return entry?.type === 'segment'
    // Inbox IDs are never segments: the repo path's guard refuses them (docs/security.md, inbox ID squatting).
    if (isInboxNamespaceId(documentId)) return false
    try {
      const { changes } = decodeSyncMessage(data, decodeSyncData)
      if (changes.length === 0) return false
      const genesis = segmentGenesis(decodeChanges([...changes], DECODE_BUDGET, charge).decoded)
      return genesis !== undefined && !isViolation(genesis)
    } catch {
      return false // the repo path's guard says why (a refused charge included: it asks again and closes with 4429)
    }
  }

  get loadedCount(): number {
    return this.#segments.size
  }

  /** A `sync` or `request` message from a connected peer, settled once its sender is acknowledged; a violation means: close the connection. */
  async receive(message: Message & { documentId: DocumentId; data: Uint8Array }, user: string, peer: PeerId, arrived?: () => void, charge?: ChargeWork): Promise<Violation | undefined> {
    const outcome = await this.relay(message, user, peer, arrived, charge)
    return outcome && 'acknowledged' in outcome ? await outcome.acknowledged : outcome
  }

  /**
   * The same, settled once the message is checked and relayed. A message that brought new
   * changes is acknowledged later, once they are stored (`acknowledged`): the sender's and
   * the segment's next messages are relayed meanwhile, and their changes join the next
   * write (log-storage.ts).
   */
  async relay(message: Message & { documentId: DocumentId; data: Uint8Array }, user: string, peer: PeerId, arrived?: () => void, charge?: ChargeWork): Promise<Violation | undefined | Acknowledging> {
    const segment = await this.#open(message.documentId)
    const outcome = await serially(segment, () => this.#receive(segment, message, user, peer, arrived, charge))
    if (outcome === undefined || !('acknowledged' in outcome)) return outcome
    const { acknowledged } = outcome
    this.#finishing.add(acknowledged)
    const done = () => void this.#finishing.delete(acknowledged)
    acknowledged.then(done, done)
    return outcome
  }

  /** A violation, none, or an acknowledgement waiting for the message's writes. */
  async #receive(segment: Segment, message: Message & { data: Uint8Array }, user: string, peer: PeerId, arrived?: () => void, charge?: ChargeWork): Promise<Violation | undefined | Acknowledging> {
    const { registry } = this.#options
    let sync: SyncMessage
    try {
      // The frame check decoded it already (network/frames.ts): not decoded again.
      sync = decodeSyncMessage(message.data, decodeSyncData)
    } catch (error) {
      return { code: CloseCodes.MALFORMED, reason: (error as Error).message }
    }
    let verdict = null
    if (sync.changes.length > 0) {
      const check = () => checkSegmentIngress(this.#options, segment.id, segment.state, hash => segment.log.seen(hash), sync.changes, user, id => segment.recent.get(id), charge)
      verdict = await check()
      // Another user's change this log lacks may have been stored by another node since it
      // was loaded (a client re-sends what it got from there): the stored log says.
      if (!verdict.ok && verdict.foreign && this.#others) {
        await this.#others.refill(segment, 'foreign')
        verdict = await check()
      }
      if (!verdict.ok) return verdict.violation
      sync = { ...sync, changes: verdict.changes }
      if (verdict.fresh) arrived?.()
    }
    // Reading: a new segment's creator may, once registered; otherwise the registry says.
    if (!verdict?.fresh && !(await registry.mayRead(user, segment.id))) return this.#peers.unavailable(segment.id, peer)
    if (verdict?.fresh && verdict.effects.register) await registry.register(segment.id, verdict.effects.register)
    // A new peer takes the heads for what the server holds: what other nodes sent is stored first (other-nodes.ts).
    if (segment.unconfirmed.size > 0 && !segment.peers.has(peer)) await this.#others?.confirm(segment)
    const before = segment.log.heads()
    const { state, appended } = receive(segment.log, segment.peers.get(peer) ?? createPeerState(), sync, verdict?.headers)
    this.#track(segment, peer, state)
    if (verdict?.fresh) {
      segment.state = verdict.state
      segment.conversation ??= verdict.state.conversation
      for (const [hash, events] of verdict.events) segment.waiting.set(hash, events)
    }
    for (const hash of appended.dropped) segment.waiting.delete(hash)
    this.#interest(segment)
    const stored = this.#accepted(segment, appended.accepted, before, peer)
    const written = verdict?.fresh ? this.#written(segment, peer, verdict.effects, stored) : undefined
    // A peer asking for a segment nobody has hears so, as from the repo; a peer syncing one
    // we lack (we lost it, or it is new) is asked for its changes.
    if (segment.log.size === 0 && message.type === 'request') this.#peers.unavailable(segment.id, peer)
    else this.#peers.generate(segment, peer)
    const violation = appended.rejected.length > 0 ? { code: CloseCodes.FORBIDDEN, reason: `a change was refused: ${appended.rejected[0]!.message}` } : undefined
    return written ? { acknowledged: written.then(() => violation) } : violation
  }

  /**
   * After the relay, before the acknowledgement: the actors bound (cached at once, so the
   * next message sees them; storage/write-batch.ts groups the writes) and the changes
   * stored (log-storage.ts); the peer hears from us again once both are done
   * (segment-peers.ts). The stored log is the record of what was accepted from a client: a
   * client may re-send another user's change (after a crash) only if it is there.
   */
  #written(segment: Segment, peer: PeerId, effects: SegmentEffects, stored: Promise<void>): Promise<void> {
    const { registry } = this.#options
    const written = Promise.all([...effects.bind.map(actor => registry.bindActor(actor, effects.user)), stored])
    return this.#peers.acknowledgeAfter(segment, peer, written)
  }

  /** The heads of a segment the server holds, null when it holds none. */
  async heads(documentId: string): Promise<string[] | null> {
    const segment = await this.#current(documentId)
    return segment.log.size > 0 ? [...segment.log.heads()] : null
  }

  /** The segment as an Automerge document loaded from its log (a log is a loadable document), undefined when none is held. */
  async document<T>(documentId: string): Promise<T | undefined> {
    const { log } = await this.#current(documentId)
    return log.size > 0 ? (A.load<T>(log.concat()) as T) : undefined
  }

  /** Whether writers should start the next segment (core isSegmentFull); undefined when none is held. */
  async isFull(segmentId: string): Promise<boolean | undefined> {
    const { state } = await this.#current(segmentId)
    return state ? state.count >= SEGMENT_SIZE || state.bytes >= SEGMENT_BYTES : undefined
  }

  /**
   * A change the server makes itself (HTTP publish, a new segment): built with Automerge
   * on the segment's document (server-change.ts), appended as the server's own change (its
   * actor bound to the server, the change accepted), checked onto the segment's state,
   * and sent to the segment's peers; settles once it is stored.
   */
  async changeAsServer(segmentId: string, change: (doc: SegmentDoc) => void): Promise<void> {
    const segment = await this.#current(segmentId)
    const stored = await serially(segment, async () => {
      const { changes, decoded } = this.#serverChanges.make(segmentId, segment.log, change)
      if (changes.length === 0) return
      await this.#options.registry.bindActor(this.#actor, SERVER_ACTOR_OWNER)
      await this.#options.registry.accept(decoded.map(item => item.hash))
      const before = segment.log.heads()
      const appended = segment.log.append(changes)
      if (appended.rejected.length > 0) {
        this.#serverChanges.forget(segmentId)
        throw new Error(`the server's own change was refused: ${appended.rejected[0]!.message}`)
      }
      // The server's change on the state so far (its whole log the first time, as other-nodes.ts takeIn does).
      const checked = segment.state && checkSegmentLogChanges(segment.state, [], decoded, '', undefined, this.#options.limits)
      segment.state = checked && !isViolation(checked) ? checked.state : (foldLog(segment.log, this.#options.limits)?.state ?? null)
      segment.conversation ??= segment.state?.conversation
      return this.#accepted(segment, appended.accepted, before, undefined)
    })
    await stored
  }

  /** Resolves once every write of accepted changes so far has settled (log-storage.ts). */
  async flush(): Promise<void> {
    await this.#storage.flush()
  }

  /** A peer's connection closed: its sync states go (a reconnect starts afresh). */
  peerLeft(peer: PeerId): void {
    for (const id of this.#peerSegments.get(peer) ?? []) {
      const parked = this.#parked.get(id)
      if (parked?.peers.delete(peer) && parked.peers.size === 0) {
        this.#parked.delete(id)
        if (parked.joined !== undefined) this.#options.bus?.leave(parked.joined)
      }
      void this.#segments.get(id)?.then(segment => {
        segment.peers.delete(peer)
        segment.acknowledging.delete(peer)
        this.#interest(segment)
      })
    }
    this.#peerSegments.delete(peer)
  }

  /** Writes everything and unloads every log. */
  async close(): Promise<void> {
    clearInterval(this.#sweep)
    this.#others?.close()
    await Promise.all([...this.#segments.values()].map(loading => loading.then(segment => segment.tail)))
    await Promise.allSettled([...this.#finishing])
    await this.#outbox?.idle()
    await this.#storage.flush()
    this.#segments.clear()
  }

  /** Stores and forwards changes accepted here; the promise settles once they are stored. */
  #accepted(segment: Segment, accepted: readonly LoggedChange[], before: readonly string[], origin: PeerId | undefined): Promise<void> {
    if (accepted.length === 0) return Promise.resolve()
    const stored = this.#store(segment, accepted)
    this.#peers.forward(segment, accepted, before, origin)
    this.#own(segment, accepted, stored)
    return stored
  }

  #store(segment: Segment, accepted: readonly LoggedChange[]): Promise<void> {
    const stored = this.#storage.store(segment.id, accepted)
    // A failed write is logged and retried (the constructor's onWriteError); whoever waits on it hears too.
    stored.catch(() => undefined)
    return stored
  }

  /** Side effects of changes accepted here (not heard from the bus): their events numbered, then published once stored. */
  #own(segment: Segment, accepted: readonly LoggedChange[], stored: Promise<void>): void {
    const events: ParleyEvent[] = []
    for (const change of accepted) {
      events.push(...(segment.waiting.get(change.hash) ?? []))
      segment.waiting.delete(change.hash)
    }
    rememberAuthors(segment.recent, events)
    const recorded = events.length > 0 && segment.state ? this.#options.hooks.accepted?.(segment.state.conversation, segment.id, events) : undefined
    const conversation = segment.conversation ?? segment.state?.conversation
    if (conversation !== undefined) this.#outbox?.publish({ conversation, segment: segment.id, changes: accepted.map(change => change.bytes), stored, recorded: Promise.resolve(recorded) })
  }

  /** Joins the segment's conversation on the bus when its first peer here arrives; leaves when the last goes. */
  #interest(segment: Segment): void {
    const bus = this.#options.bus
    if (!bus) return
    const want = segment.peers.size > 0 ? segment.conversation : undefined
    if (want === segment.joined) return
    if (segment.joined !== undefined) bus.leave(segment.joined)
    segment.joined = want
    if (want !== undefined) bus.join(want)
  }

  /**
   * The segment for a use that is not a peer's sync (HTTP): with a bus, a loaded log whose
   * conversation this node does not hear may be behind the other nodes, so it is reloaded
   * from the shared storage first (a log loaded by this call is current already).
   */
  async #current(documentId: string): Promise<Segment> {
    const held = this.#segments.has(documentId)
    const segment = await this.#open(documentId)
    const { bus } = this.#options
    const others = this.#others
    if (bus && others && held && !(segment.conversation !== undefined && bus.hears(segment.conversation))) await serially(segment, () => others.refill(segment, 'idle'))
    return segment
  }

  #track(segment: Segment, peer: PeerId, state: PeerState): void {
    segment.peers.set(peer, state)
    let ids = this.#peerSegments.get(peer)
    if (!ids) this.#peerSegments.set(peer, (ids = new Set()))
    ids.add(segment.id)
  }

  /** The segment's log, loaded from storage once (an empty log when nothing is stored). */
  #open(documentId: string): Promise<Segment> {
    let loading = this.#segments.get(documentId)
    if (!loading) {
      loading = this.#load(documentId)
      this.#segments.set(documentId, loading)
      loading.catch(() => this.#segments.delete(documentId))
    }
    return loading.then(segment => {
      segment.used = Date.now()
      return segment
    })
  }

  async #load(documentId: string): Promise<Segment> {
    const log = (await this.#storage.load(documentId)) ?? new ChangeLog()
    const folded = log.size > 0 ? foldLog(log, this.#options.limits) : undefined
    let conversation = folded?.state.conversation
    if (conversation === undefined && this.#options.bus) {
      const entry = await this.#options.registry.localEntry(documentId)
      if (entry?.type === 'segment') conversation = entry.conversation
    }
    const segment: Segment = { id: documentId, log, state: folded?.state ?? null, peers: new Map(), waiting: new Map(), recent: new Map(), used: Date.now(), conversation, joined: undefined, tail: Promise.resolve(), acknowledging: new Map(), unconfirmed: new Set() }
    if (folded) rememberAuthors(segment.recent, folded.events)
    if (folded) this.#options.hooks.loaded?.(folded.state.conversation, documentId, folded.events)
    this.#unpark(segment)
    this.#others?.loaded(segment)
    return segment
  }

  /** A parked segment loaded again: its peers' states back, and whatever they lack sent to them. */
  #unpark(segment: Segment): void {
    const parked = this.#parked.get(segment.id)
    if (!parked) return
    this.#parked.delete(segment.id)
    for (const [peer, state] of parked.peers) segment.peers.set(peer, state)
    segment.joined = parked.joined
    for (const peer of parked.peers.keys()) this.#peers.generate(segment, peer)
  }

  /** Writes out and unloads, or parks, what the cache's bounds say (segment.ts toUnload). */
  async #evictIdle(): Promise<void> {
    const loaded: Segment[] = []
    for (const loading of this.#segments.values()) {
      const segment = await loading.catch(() => undefined)
      if (segment) loaded.push(segment)
    }
    for (const { segment, park } of toUnload(loaded, this.#segments.size, Date.now(), this.#options)) await this.#unload(segment, park)
  }

  /** Writes a log out and drops it from memory; parking keeps its peers' states (#parked). */
  async #unload(segment: Segment, park: boolean): Promise<void> {
    await serially(segment, async () => {
      if (!park && segment.peers.size > 0) return
      if (park && (segment.waiting.size > 0 || segment.acknowledging.size > 0)) return
      this.#segments.delete(segment.id)
      this.#serverChanges.forget(segment.id)
      if (park && segment.peers.size > 0) this.#parked.set(segment.id, { peers: segment.peers, joined: segment.joined })
      // Gone with its peers: its registry entry too (read again when it is used).
      else this.#options.registry.forget(segment.id)
      await this.#storage.flush()
      if (segment.log.size > 0 && this.#storage.shouldCompact(segment.id)) await this.#storage.compact(segment.id, segment.log)
      this.#storage.forget(segment.id)
    }).catch(error => this.#options.log.warn({ err: error, documentId: segment.id }, 'could not unload a segment'))
  }
}
