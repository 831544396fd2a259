/**
 * Inspects every message a connection sends before the repo sees it: a sync message's
 * new changes must come from actors of the connection's user and obey the rules for
 * their document (rules.ts); a new document must be a Parley document the user may
 * create; ephemeral messages only for documents the user may read. The first violation
 * drops the whole message: nothing of it is stored or relayed.
 */
import { next as Automerge, type DecodedChange, type Doc } from '@automerge/automerge'
import { isValidDocumentId, type DocumentId, type Message, type Repo, type StorageAdapterInterface } from '@automerge/automerge-repo'
import { DocumentTypes, documentType, inboxDocumentId, inboxGenesis, isInboxNamespaceId, isValidUserId, legacyInboxDocumentId, readHead, readString, type HeadDoc, type InboxDoc, type Limits, type ParleyEvent, type Role, type SegmentDoc } from '@parley/core'
import { CloseCodes } from '../close-codes.ts'
import { decodeSyncData } from '../network/frames.ts'
import { appendedEvents, heldAuthors, refusesEventIdReuse, type EventIdLookups } from '../events/event-ids.ts'
import { ChunkError, DECODE_BUDGET, decodeChanges, type ChargeWork } from './chunks.ts'
import { roleIn, rolesOf, type AccessRegistry, type DocEntry } from './registry.ts'
import { checkHeadChanges, checkInboxChanges, checkNewDocumentOps, checkNewHead, checkNewSegment, checkSegmentChanges, segmentConversation, type HeadCheck, type Violation } from './rules.ts'

const forbidden = (reason: string): Violation => ({ code: CloseCodes.FORBIDDEN, reason })

/**
 * Changes for a document the server lacks, without their first change: a client whose
 * saved sync state says the server had the start (the server lost it in a crash). They
 * cannot be checked, so they are held back; the rest of the sync message goes through,
 * and the sync protocol's reset makes the client send everything.
 */
const INCOMPLETE = Symbol('incomplete')

export type Verdict = { ok: true; message: Message } | { ok: false; violation: Violation }

export class SyncGuard {
  readonly #repo: Repo
  readonly #registry: AccessRegistry
  readonly #limits: Limits
  /**
   * Documents accepted but not yet applied by the repo (it applies asynchronously): the
   * next message for one is checked against what the document will be.
   */
  readonly #pending = new Map<string, Doc<unknown>>()
  readonly #storage: StorageAdapterInterface
  /** The server sequence, to refuse an event ID another author has (events/event-ids.ts); none: not checked. */
  readonly #index: EventIdLookups | undefined

  constructor(repo: Repo, registry: AccessRegistry, limits: Limits, storage: StorageAdapterInterface, index?: EventIdLookups) {
    this.#repo = repo
    this.#registry = registry
    this.#limits = limits
    this.#storage = storage
    this.#index = index
  }

  /**
   * The message to pass on (possibly with changes held back), or why it may not pass.
   * `charge`: the sender's rate budget, charged the measured decoding work (chunks.ts).
   */
  async inspect(message: Message, user: string, charge?: ChargeWork): Promise<Verdict> {
    const pass: Verdict = { ok: true, message }
    const documentId = (message as { documentId?: string }).documentId
    if (!documentId) return pass
    if (message.type === 'ephemeral') {
      return (await this.#registry.mayRead(user, documentId)) ? pass : { ok: false, violation: forbidden('not a member of this conversation') }
    }
    if (message.type !== 'sync' && message.type !== 'request') return pass
    const sync = decodeSyncData(message.data!)
    // Reading is decided by the repo's access check, which answers doc-unavailable.
    if (sync.changes.length === 0) return pass
    // A name like `__proto__` cannot be a member key (core isValidUserId): such a user writes nothing.
    if (!isValidUserId(user)) return { ok: false, violation: forbidden(`${JSON.stringify(user.slice(0, 60))} is not a valid user ID`) }
    const result = await this.#checkChanges(documentId, sync.changes, user, charge)
    if (result === INCOMPLETE) return { ok: true, message: { ...message, data: Automerge.encodeSyncMessage({ ...sync, changes: [] }) } }
    return result ? { ok: false, violation: result } : pass
  }

  async #checkChanges(documentId: string, blobs: Uint8Array[], user: string, charge?: ChargeWork): Promise<Violation | typeof INCOMPLETE | undefined> {
    let decoded: DecodedChange[]
    let raw: Uint8Array[]
    try {
      // Bounded before Automerge decodes anything: a small chunk may say "a million ops".
      ;({ decoded, raw } = decodeChanges(blobs, DECODE_BUDGET, charge))
    } catch (error) {
      const kind = error instanceof ChunkError ? error.kind : 'malformed'
      if (kind === 'too-large') return { code: CloseCodes.TOO_LARGE, reason: `the changes in the sync message are too large to decode: ${(error as Error).message}` }
      if (kind === 'forbidden') return forbidden(`Parley documents hold maps, lists and scalars only: ${(error as Error).message}`)
      if (kind === 'rate-limited') return { code: CloseCodes.RATE_LIMITED, reason: `rate limited: ${(error as Error).message}` }
      return { code: CloseCodes.MALFORMED, reason: `a change in the sync message does not decode: ${(error as Error).message}` }
    }
    const entry = await this.#registry.entry(documentId)
    // The derived inbox ID (a hash) is computed only for unregistered documents, not per message.
    const inbox = entry?.type === 'inbox' || (entry === null && documentId === inboxDocumentId(user))
    if (inbox && entry?.type === 'inbox' && entry.user !== user) return forbidden('this is another user’s inbox')
    if (entry === null && !inbox) {
      // Inbox IDs have a namespace of their own (core inboxDocumentId): only its user's inbox takes one.
      if (isInboxNamespaceId(documentId)) return forbidden('this document ID is reserved for another user’s inbox')
      // A client of an earlier release bringing its inbox under the legacy ID: nothing is
      // created there any more (src/inbox.ts), so its changes are held back, not refused.
      if (documentId === legacyInboxDocumentId(user)) return INCOMPLETE
    }
    // A user's client may bring its inbox before the server needed it: from now on it is theirs alone.
    if (inbox && entry === null) await this.#registry.register(documentId, { type: 'inbox', user })
    // An inbox always holds at least its deterministic genesis.
    const held = (await this.#serverDoc(documentId)) ?? (inbox ? Automerge.load(inboxGenesis(user)) : undefined)
    const fresh = decoded.map((change, index) => ({ change, bytes: raw[index]! })).filter(({ change }) => !held || !Automerge.hasHeads(held, [change.hash]))
    if (fresh.length === 0) return undefined

    // Changes under another user's actor pass only if this server accepted them before:
    // a client re-sending what the server relayed to it and then lost in a crash.
    const own: typeof fresh = []
    const restored: typeof fresh = []
    const unbound = new Set<string>()
    for (const item of fresh) {
      const owner = await this.#registry.actorOwner(item.change.actor)
      if (owner === undefined) unbound.add(item.change.actor)
      if (owner === undefined || owner === user) own.push(item)
      else if (await this.#registry.wasAccepted(item.change.hash)) restored.push(item)
      else return forbidden(`actor ${item.change.actor} belongs to another user`)
    }
    let doc = held
    if (restored.length > 0) doc = Automerge.applyChanges(held ? Automerge.clone(held) : Automerge.init(), restored.map(({ bytes }) => bytes))[0]
    if (inbox) {
      // The server writes inboxes; a client only ever re-sends the server's own entries
      // (relayed to it, then lost in a crash). Its actors are not bound to the user.
      const violation = checkInboxChanges(doc as InboxDoc, fresh.map(({ change }) => change))
      if (violation) return violation
    } else if (own.length > 0) {
      const changes = own.map(({ change }) => change)
      const violation = doc ? await this.#checkStored(documentId, entry, doc, changes, user) : (checkNewDocumentOps(changes) ?? (await this.#checkNew(documentId, entry, own.map(({ bytes }) => bytes), user)))
      if (violation) return violation
      for (const actor of unbound) await this.#registry.bindActor(actor, user)
      await this.#registry.accept(changes.map(change => change.hash))
    }
    const pending = this.#pending.get(documentId)
    if (pending) this.#pending.set(documentId, Automerge.applyChanges(Automerge.clone(pending), fresh.map(({ bytes }) => bytes))[0])
    return undefined
  }

  /**
   * The document as the server holds it (or is about to), undefined when it holds none.
   * Not loaded through the repo: a handle may sit in "requesting" for as long as no peer
   * answers, and this check must not wait on it.
   */
  async #serverDoc(documentId: string): Promise<Doc<unknown> | undefined> {
    const handle = this.#repo.handles[documentId as DocumentId]
    if (handle?.isReady()) {
      this.#pending.delete(documentId)
      return handle.doc()
    }
    return this.#pending.get(documentId) ?? (await this.#loadStored(documentId))
  }

  /**
   * What storage holds of a document, or undefined. automerge-repo keeps snapshots and
   * incremental changes under [documentId, kind, …], beside other records (sync states).
   */
  async #loadStored(documentId: string): Promise<Doc<unknown> | undefined> {
    const chunks = (await this.#storage.loadRange([documentId])).filter(({ key }) => key[1] === 'snapshot' || key[1] === 'incremental')
    if (chunks.length === 0) return undefined
    let doc = Automerge.init<unknown>()
    for (const { data } of chunks) if (data) doc = Automerge.loadIncremental(doc, data)
    return doc
  }

  async #checkStored(documentId: string, entry: DocEntry | null, doc: Doc<unknown>, changes: DecodedChange[], user: string): Promise<Violation | undefined> {
    switch (entry?.type) {
      case 'head': {
        const result = checkHeadChanges(doc as HeadDoc, changes, user, this.#limits)
        const unknown = await this.#checkSegmentIds(documentId, result)
        if (!Array.isArray(unknown)) return unknown
        await this.#reserve(documentId, unknown)
        return undefined
      }
      case 'segment': {
        const role = this.#roleIn(entry.conversation, user, entry.creator)
        if (!role) return forbidden('not a member of this conversation')
        return checkSegmentChanges(doc as SegmentDoc, changes, user, role, this.#limits) ?? (await this.#refusesEventIds(entry.conversation, appendedEvents(changes.flatMap(change => change.ops)), (doc as SegmentDoc).events))
      }
      default:
        // Inboxes never get here: #checkChanges handles them.
        return forbidden('this document is not registered to any conversation')
    }
  }

  /** A document the server does not hold yet: the user creates it, and must be allowed to. */
  async #checkNew(documentId: string, entry: DocEntry | null, raw: Uint8Array[], user: string): Promise<Violation | typeof INCOMPLETE | undefined> {
    let doc: Doc<unknown>
    try {
      doc = Automerge.applyChanges(Automerge.init(), raw)[0]
    } catch {
      return { code: CloseCodes.MALFORMED, reason: 'the changes of a new document do not apply' }
    }
    if (Automerge.getMissingDeps(doc, []).length > 0) return INCOMPLETE
    const type = documentType(doc)
    if (type === DocumentTypes.inbox) return forbidden('inboxes are written by the server only')
    if (!mayCreate(entry, user)) return forbidden('this document ID is already registered')

    if (type === DocumentTypes.head) {
      if (entry !== null && entry.type !== 'head') return forbidden('this document ID is reserved for a segment')
      const result = checkNewHead(doc as HeadDoc, user, this.#limits)
      const unknown = await this.#checkSegmentIds(documentId, result)
      if (!Array.isArray(unknown)) return unknown
      // The head first: a segment reserved for a head not registered yet is nobody's to read.
      await this.#registry.register(documentId, { type: 'head', members: rolesOf(readHead(doc as HeadDoc)) })
      await this.#reserve(documentId, unknown)
    } else if (type === DocumentTypes.segment) {
      const conversation = segmentConversation(doc as SegmentDoc)
      if (!conversation) return forbidden('not a well-formed segment')
      if (entry !== null && (entry.type !== 'segment' || entry.conversation !== conversation)) return forbidden('this segment ID is reserved for another conversation')
      const head = await this.#registry.entry(conversation)
      if (head !== null && head.type !== 'head') return forbidden('a segment must name a conversation head')
      // A segment may arrive before the head that lists it (both created offline).
      const role = head === null ? 'member' : roleIn(head.members, user)
      if (!role) return forbidden('not a member of this conversation')
      const violation = checkNewSegment(doc as SegmentDoc, user, role, this.#limits) ?? (await this.#refusesEventIds(conversation, appendedEvents((doc as SegmentDoc).events.map(json => ({ value: readString(json) })))))
      if (violation) return violation
      await this.#registry.register(documentId, { type: 'segment', conversation, creator: user })
    } else {
      return forbidden('not a Parley document (head, segment or inbox)')
    }
    this.#pending.set(documentId, doc)
    return undefined
  }

  /** Segment IDs a head lists must be this conversation's segments, or unknown (returned, to be reserved for it: #reserve). */
  async #checkSegmentIds(conversationId: string, result: HeadCheck): Promise<Violation | string[]> {
    if (result.violation) return result.violation
    const unknown: string[] = []
    for (const segmentId of result.segments) {
      if (!isValidDocumentId(segmentId)) return forbidden(`${JSON.stringify(segmentId.slice(0, 60))} is not a document ID`)
      const entry = await this.#registry.entry(segmentId)
      if (entry === null && isInboxNamespaceId(segmentId)) return forbidden(`${segmentId} is reserved for a user’s inbox`)
      if (entry === null) unknown.push(segmentId)
      else if (entry.type !== 'segment' || entry.conversation !== conversationId) return forbidden(`${segmentId} is not a segment of this conversation`)
    }
    return unknown
  }

  async #reserve(conversationId: string, segmentIds: readonly string[]): Promise<void> {
    for (const segmentId of segmentIds) await this.#registry.register(segmentId, { type: 'segment', conversation: conversationId, reserved: true })
  }

  /** An event ID the conversation already has from another author would shadow that event (events/event-ids.ts). */
  async #refusesEventIds(conversationId: string, events: ParleyEvent[], held?: readonly unknown[]): Promise<Violation | undefined> {
    if (!this.#index || events.length === 0) return undefined
    const reason = await refusesEventIdReuse(this.#index, conversationId, events, held && heldAuthors(held))
    return reason === undefined ? undefined : forbidden(reason)
  }

  #roleIn(conversationId: string, user: string, creator: string | undefined): Role | undefined {
    const members = this.#registry.membersOf(conversationId)
    if (members) return roleIn(members, user)
    return creator === user ? 'member' : undefined
  }
}

/**
 * May `user` create a document under this ID? A new ID, yes; a segment ID a head
 * reserved, yes (its conversation is checked after). An ID registered but not stored
 * (the server was killed between recording who owns it and saving it) only by the user
 * who registered it, re-sending their own changes.
 */
function mayCreate(entry: DocEntry | null, user: string): boolean {
  if (entry === null) return true
  switch (entry.type) {
    case 'segment':
      return entry.reserved === true || entry.creator === user
    case 'head':
      return roleIn(entry.members, user) === 'owner'
    case 'inbox':
      return false
  }
}
