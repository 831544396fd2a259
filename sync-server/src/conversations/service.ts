/**
 * Conversations as the HTTP routes see them: opened (and numbered) on demand, created,
 * written to as the calling user. Writes go into the same documents, through the same
 * core functions and validation, as a client's would; the repo then syncs them to
 * every member like any other change.
 */
import { next as Automerge } from '@automerge/automerge'
import { generateAutomergeUrl, parseAutomergeUrl, type DocHandle, type DocumentId, type Repo } from '@automerge/automerge-repo'
import {
  addMember,
  addSegment,
  appendEvent,
  eventId,
  HybridClock,
  initHead,
  initSegment,
  memberRole,
  isSegmentFull,
  MODERATION_AUTHOR,
  readHead,
  removeMember,
  validateEvent,
  type ConversationKind,
  type EventBody,
  type Head,
  type HeadDoc,
  type Limits,
  type ParleyEvent,
  type Role,
  type SegmentDoc,
} from '@parley/core'
import { decodeChanges } from '../access/chunks.ts'
import { refusesMembershipChange, type MembershipChange } from '../access/rules.ts'
import { rolesOf, type AccessRegistry } from '../access/registry.ts'
import { ParleyError, ServerErrorCodes } from '../errors.ts'
import type { EventIndex, SequencedEvent } from '../events/event-index.ts'
import { idempotentEventId, refusesRetry, serverEventId } from './idempotency.ts'
import type { ConversationWatch } from './watch.ts'

/** The actor owner recorded for changes the server itself makes. */
const SERVER_ACTOR_OWNER = '@server'
/** The `device` of events written through the HTTP API. */
const SERVER_DEVICE = 'server'
/** How long a head the registry knows may take to load before the request fails. */
const LOAD_TIMEOUT_MS = 10_000

export interface ServiceContext {
  repo: Repo
  registry: AccessRegistry
  index: EventIndex
  watch: ConversationWatch
  limits: Limits
  /** Keys idempotency-key event IDs (conversations/idempotency.ts). */
  idempotencySecret: string
  /** With the relay core on, segments are written through it instead of the repo (relay/hub.ts RelayHub). */
  segments?: SegmentStore
  /**
   * Keeps a document loaded until released (documents/eviction.ts DocumentEvictor.hold):
   * the service holds what it reads across awaits, so an idle sweep never unloads a head
   * or segment in the middle of a write. None: nothing is unloaded (tests).
   */
  hold?: (documentId: string) => Promise<() => void>
}

/** Segments served from change logs (the relay core): what the service needs of them. */
export interface SegmentStore {
  /** The segment's heads, loading it (and numbering its events); null when none is held. */
  heads(segmentId: string): Promise<string[] | null>
  isFull(segmentId: string): Promise<boolean | undefined>
  /** Settles once the change is stored. */
  changeAsServer(segmentId: string, change: (doc: SegmentDoc) => void): Promise<void>
}

export class ConversationService {
  readonly #ctx: ServiceContext
  readonly #clock = new HybridClock()
  /** Writes per conversation run one after another, so two never both start a segment. */
  readonly #writes = new Map<string, Promise<unknown>>()

  constructor(ctx: ServiceContext) {
    this.#ctx = ctx
  }

  /** The head of a conversation the user is a member of, with every segment loaded and numbered. */
  async open(conversationId: string, user: string): Promise<{ handle: DocHandle<HeadDoc>; head: Head }> {
    return this.#open(conversationId, user, true)
  }

  /** `open`; `member`: the user must be a member (false only for the server's own writes). */
  async #open(conversationId: string, user: string, member: boolean): Promise<{ handle: DocHandle<HeadDoc>; head: Head }> {
    const { registry, watch } = this.#ctx
    const entry = await registry.entry(conversationId)
    if (entry?.type !== 'head') throw new ParleyError(ServerErrorCodes.NOT_FOUND, `no conversation ${conversationId}`)
    if (member && !registry.canRead(user, conversationId)) throw new ParleyError(ServerErrorCodes.FORBIDDEN, 'not a member of this conversation')
    const releases = [await this.#hold(conversationId)]
    try {
      const handle = await this.#find<HeadDoc>(conversationId)
      await watch.watch(handle)
      const head = readHead(handle.doc())
      for (const segmentId of head.segments) {
        if (this.#ctx.segments) {
          await this.#ctx.segments.heads(segmentId)
          continue
        }
        releases.push(await this.#hold(segmentId))
        const segment = await this.#find<SegmentDoc>(segmentId).catch(() => undefined)
        if (segment) await watch.watch(segment)
      }
      return { handle, head }
    } finally {
      for (const release of releases) release()
    }
  }

  /** Holds a document loaded until the returned function is called (ServiceContext.hold). */
  async #hold(documentId: string): Promise<() => void> {
    return (await this.#ctx.hold?.(documentId)) ?? (() => undefined)
  }

  /** Conversations with a write queued or running (bounded by what is in progress, not by what was ever asked). */
  get writesInProgress(): number {
    return this.#writes.size
  }

  isMember(conversationId: string, user: string): boolean {
    return this.#ctx.registry.canRead(user, conversationId)
  }

  async create(user: string, init: { kind: ConversationKind; title: string; members: string[] }): Promise<{ id: string; head: Head }> {
    const { repo } = this.#ctx
    const head = repo.create<HeadDoc>()
    const segments = this.#ctx.segments
    const segment = segments ? undefined : repo.create<SegmentDoc>()
    segment?.change(doc => initSegment(doc, head.documentId))
    const segmentId = segment?.documentId ?? newDocumentId()
    const releases = [await this.#hold(head.documentId), await this.#hold(segmentId)]
    try {
      return await this.#create(user, init, head, segment, segmentId)
    } finally {
      for (const release of releases) release()
    }
  }

  async #create(user: string, init: { kind: ConversationKind; title: string; members: string[] }, head: DocHandle<HeadDoc>, segment: DocHandle<SegmentDoc> | undefined, segmentId: string): Promise<{ id: string; head: Head }> {
    const { registry } = this.#ctx
    const segments = this.#ctx.segments
    head.change(doc => initHead(doc, { ...init, creator: user, at: this.#clock.tick(), firstSegment: segmentId }))
    await registry.register(head.documentId, { type: 'head', members: rolesOf(readHead(head.doc())) })
    await registry.register(segmentId, { type: 'segment', conversation: head.documentId, creator: user })
    await this.#recordServerChanges(head)
    if (segment) await this.#recordServerChanges(segment)
    else await segments!.changeAsServer(segmentId, doc => initSegment(doc, head.documentId))
    await this.#ctx.watch.watch(head)
    // Created means stored: a crash after the answer must not lose the conversation.
    await this.#stored(head, segment)
    return { id: head.documentId, head: readHead(head.doc()) }
  }

  /**
   * Appends a message as `user`. With an idempotency key the event ID is derived from it
   * (keyed by the server's secret: conversations/idempotency.ts), so a retry (even after a
   * restart) finds the first attempt instead of writing twice; it only ever answers the
   * caller's own earlier message with the same text.
   */
  async publish(user: string, conversationId: string, body: { text: string; priority?: 'high' | 'normal' | 'low'; idempotencyKey?: string }): Promise<SequencedEvent> {
    const message: EventBody = body.priority ? { type: 'message', text: body.text, priority: body.priority } : { type: 'message', text: body.text }
    if (body.idempotencyKey === undefined) return this.#append(user, conversationId, message)
    const retry = { id: idempotentEventId(this.#ctx.idempotencySecret, user, conversationId, body.idempotencyKey), refuse: (earlier: ParleyEvent) => refusesRetry(earlier, user, body) }
    return this.#append(user, conversationId, message, undefined, retry)
  }

  /**
   * Appends an event the server writes itself (a moderation decision: docs/moderation.md)
   * under MODERATION_AUTHOR, who is no member: the caller decided it is to be written.
   * Never reached from a request's own identity, so no user can write as the server.
   * `after`: a time the event must sort after (the decision it replaces, stamped maybe on
   * another node whose clock is ahead). `key`: the event is written once per key and
   * conversation (its ID derived from it: idempotency.ts serverEventId); writing it again
   * answers the event written first.
   */
  async appendAsServer(conversationId: string, body: EventBody, after?: number, key?: string): Promise<SequencedEvent> {
    if (after !== undefined) this.#clock.observe(after)
    const retry = key === undefined ? undefined : { id: serverEventId(this.#ctx.idempotencySecret, conversationId, key), refuse: (earlier: ParleyEvent) => refusesServerRetry(earlier, body) }
    return this.#append(MODERATION_AUTHOR, conversationId, body, undefined, retry, undefined, true)
  }

  /** Adds `member` as `role`; when they are a member already, this changes their role (owners only). */
  async addMember(user: string, conversationId: string, member: string, role: Role): Promise<SequencedEvent> {
    const change = { type: 'add', role } as const
    await this.#checkMembershipChange(user, conversationId, member, change)
    return this.#append(user, conversationId, { type: 'member-added', member, role }, (doc, event) => addMember(doc, member, role, user, event.at), undefined, head =>
      this.#refusal(user, head, member, change),
    )
  }

  async removeMember(user: string, conversationId: string, member: string): Promise<SequencedEvent> {
    const { head } = await this.open(conversationId, user)
    if (memberRole(head, member) === undefined) throw new ParleyError(ServerErrorCodes.NOT_FOUND, `${member} is not a member`)
    await this.#checkMembershipChange(user, conversationId, member, { type: 'remove' })
    return this.#append(user, conversationId, { type: 'member-removed', member }, doc => removeMember(doc, member), undefined, head =>
      memberRole(head, member) === undefined ? new ParleyError(ServerErrorCodes.NOT_FOUND, `${member} is not a member`) : this.#refusal(user, head, member, { type: 'remove' }),
    )
  }

  /** Refuses early (before queueing behind other writes) what the shared rule set refuses now. */
  async #checkMembershipChange(user: string, conversationId: string, member: string, change: MembershipChange): Promise<void> {
    const { head } = await this.open(conversationId, user)
    const refusal = this.#refusal(user, head, member, change)
    if (refusal) throw refusal
  }

  /** The sync checks' rule (access/rules.ts refusesMembershipChange), against the head as it is now. */
  #refusal(user: string, head: Head, member: string, change: MembershipChange): ParleyError | undefined {
    const reason = refusesMembershipChange(user, memberRole(head, user), member, memberRole(head, member), change)
    return reason === undefined ? undefined : new ParleyError(ServerErrorCodes.FORBIDDEN, reason)
  }

  /**
   * Writes one event (and its head change) as `user`, after the writes queued before it.
   * `refuse` sees the head as it is once this write's turn comes: a check made before
   * queueing may be stale by then (two admins' requests racing with a role change).
   */
  #append(
    user: string,
    conversationId: string,
    body: EventBody,
    changeHead?: (doc: HeadDoc, event: ParleyEvent) => void,
    retry?: { id: string; refuse: (earlier: ParleyEvent) => ParleyError | undefined },
    refuse?: (head: Head) => ParleyError | undefined,
    asServer = false,
  ): Promise<SequencedEvent> {
    const previous = this.#writes.get(conversationId) ?? Promise.resolve()
    const write = previous.then(async () => {
      // Held for the whole write: the head, and the newest segment it appends to.
      const releases = [await this.#hold(conversationId)]
      try {
        const { handle, head } = await this.#open(conversationId, user, !asServer)
        const newest = head.segments.at(-1)
        if (newest !== undefined) releases.push(await this.#hold(newest))
        return await this.#write(user, conversationId, body, handle, head, changeHead, retry, refuse)
      } finally {
        for (const release of releases) release()
      }
    })
    // The entry goes once its last write settles: the ID comes from the request path, and
    // one per conversation ID ever asked (members or not) would be kept for good.
    const tail = write.then(
      () => undefined,
      () => undefined,
    )
    this.#writes.set(conversationId, tail)
    void tail.then(() => {
      if (this.#writes.get(conversationId) === tail) this.#writes.delete(conversationId)
    })
    return write
  }

  async #write(
    user: string,
    conversationId: string,
    body: EventBody,
    handle: DocHandle<HeadDoc>,
    head: Head,
    changeHead?: (doc: HeadDoc, event: ParleyEvent) => void,
    retry?: { id: string; refuse: (earlier: ParleyEvent) => ParleyError | undefined },
    refuse?: (head: Head) => ParleyError | undefined,
  ): Promise<SequencedEvent> {
    const refusal = refuse?.(head)
    if (refusal) throw refusal
    if (retry !== undefined) {
      const seq = await this.#ctx.index.seqOf(conversationId, retry.id)
      if (seq !== undefined) {
        const earlier = (await this.#ctx.index.page(conversationId, { after: seq - 1 }, 1)).events[0]!
        const refusal = retry.refuse(earlier.event)
        if (refusal) throw refusal
        return earlier
      }
    }
    const event = validateEvent({ ...body, id: retry?.id ?? eventId(user), author: user, device: SERVER_DEVICE, at: this.#clock.tick() }, this.#ctx.limits)
    if (changeHead) await this.#changeAsServer(handle, doc => changeHead(doc, event))
    let segment: DocHandle<SegmentDoc> | undefined
    if (this.#ctx.segments) await this.#appendToLog(this.#ctx.segments, handle, user, event)
    else await this.#changeAsServer((segment = await this.#writableSegment(handle, user)), doc => appendEvent(doc, event))
    await this.#stored(handle, segment)
    const [sequenced] = await this.#ctx.index.record(conversationId, [event])
    return sequenced!
  }

  /**
   * The event is on disk before it is numbered, and the caller told: the repo saves a
   * changed document after a debounce, and a crash in between would leave the event
   * numbered (so an idempotent retry would find it) but in no segment. (The relay core's
   * `changeAsServer` settles once its change is stored.)
   */
  async #stored(head: DocHandle<HeadDoc>, segment: DocHandle<SegmentDoc> | undefined): Promise<void> {
    await this.#ctx.repo.flush([head.documentId, ...(segment ? [segment.documentId] : [])])
  }

  async #writableSegment(head: DocHandle<HeadDoc>, user: string): Promise<DocHandle<SegmentDoc>> {
    const newest = readHead(head.doc()).segments.at(-1)
    const segment = newest === undefined ? undefined : await this.#find<SegmentDoc>(newest).catch(() => undefined)
    if (segment && !isSegmentFull(segment.doc())) return segment
    const next = this.#ctx.repo.create<SegmentDoc>()
    next.change(doc => initSegment(doc, head.documentId))
    await this.#ctx.registry.register(next.documentId, { type: 'segment', conversation: head.documentId, creator: user })
    await this.#recordServerChanges(next)
    await this.#changeAsServer(head, doc => addSegment(doc, next.documentId))
    await this.#ctx.watch.watch(next)
    return next
  }

  /** #writableSegment and the append, for segments served by the relay core. */
  async #appendToLog(segments: SegmentStore, head: DocHandle<HeadDoc>, user: string, event: ParleyEvent): Promise<void> {
    let segmentId = readHead(head.doc()).segments.at(-1)
    if (segmentId === undefined || (await segments.isFull(segmentId)) !== false) {
      const next = newDocumentId()
      await this.#ctx.registry.register(next, { type: 'segment', conversation: head.documentId, creator: user })
      await segments.changeAsServer(next, doc => initSegment(doc, head.documentId))
      await this.#changeAsServer(head, doc => addSegment(doc, next))
      segmentId = next
    }
    await segments.changeAsServer(segmentId, doc => appendEvent(doc, event))
  }

  async #changeAsServer<T>(handle: DocHandle<T>, change: (doc: T) => void): Promise<void> {
    const before = Automerge.getHeads(handle.doc() as Automerge.Doc<T>)
    handle.change(change)
    await this.#recordServerChanges(handle, before)
  }

  /**
   * The server's own changes (since `heads`, or all) are recorded like a user's: its actor
   * is bound to the server and each change is accepted, so a client that was sent one may
   * send it back after a crash.
   */
  async #recordServerChanges(handle: DocHandle<unknown>, heads?: string[]): Promise<void> {
    const doc = handle.doc()
    const bytes = heads ? Automerge.saveSince(doc, heads) : Automerge.save(doc)
    const { decoded } = decodeChanges([bytes])
    await this.#ctx.registry.bindActor(Automerge.getActorId(doc), SERVER_ACTOR_OWNER)
    await this.#ctx.registry.accept(decoded.map(change => change.hash))
  }

  async #find<T>(documentId: string): Promise<DocHandle<T>> {
    const cached = this.#ctx.repo.handles[documentId as DocumentId] as DocHandle<T> | undefined
    if (cached?.isReady()) return cached
    const timeout = AbortSignal.timeout(LOAD_TIMEOUT_MS)
    try {
      return await this.#ctx.repo.find<T>(documentId as DocumentId, { signal: timeout })
    } catch (cause) {
      throw new ParleyError(ServerErrorCodes.NOT_FOUND, `document ${documentId} is not available on this server`, { cause })
    }
  }
}



/** Why the event under a server write's key is not that write made before (never, unless the secret leaked). */
function refusesServerRetry(earlier: ParleyEvent, body: EventBody): ParleyError | undefined {
  if (earlier.author === MODERATION_AUTHOR && earlier.device === SERVER_DEVICE && earlier.type === body.type) return undefined
  return new ParleyError(ServerErrorCodes.INTERNAL, `event ${earlier.id} is not the server's ${body.type} event its ID was derived for`)
}

/** A fresh document ID, as the repo's `create` makes one. */
function newDocumentId(): DocumentId {
  return parseAutomergeUrl(generateAutomergeUrl()).documentId
}
