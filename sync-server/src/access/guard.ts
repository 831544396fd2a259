/**
 * Inspects every message a connection sends before the repo sees it: a sync message's
 * new changes must come from actors of the connection's user and obey the rules for
 * their document (rules.ts); a new document must be a Parley document the user may
 * create; ephemeral messages only for documents the user may read. The first violation
 * drops the whole message: nothing of it is stored or relayed.
 */
import { next as Automerge, type DecodedChange, type Doc } from '@automerge/automerge'
import { isValidDocumentId, type DocumentId, type Message, type Repo } from '@automerge/automerge-repo'
import { DocumentTypes, documentType, inboxDocumentId, inboxGenesis, readHead, type HeadDoc, type Limits, type Role, type SegmentDoc } from '@parley/core'
import { CloseCodes } from '../close-codes.ts'
import { decodeChanges } from './chunks.ts'
import type { AccessRegistry, DocEntry } from './registry.ts'
import { checkHeadChanges, checkNewHead, checkNewSegment, checkSegmentChanges, segmentConversation, type HeadCheck, type Violation } from './rules.ts'

const forbidden = (reason: string): Violation => ({ code: CloseCodes.FORBIDDEN, reason })

export class SyncGuard {
  readonly #repo: Repo
  readonly #registry: AccessRegistry
  readonly #limits: Limits
  /**
   * Documents accepted but not yet applied by the repo (it applies asynchronously): the
   * next message for one is checked against what the document will be.
   */
  readonly #pending = new Map<string, Doc<unknown>>()

  readonly #isStored: (documentId: string) => Promise<boolean>

  /** `isStored` answers from storage without loading the document. */
  constructor(repo: Repo, registry: AccessRegistry, limits: Limits, isStored: (documentId: string) => Promise<boolean>) {
    this.#repo = repo
    this.#registry = registry
    this.#limits = limits
    this.#isStored = isStored
  }

  /** Undefined when the message may pass; otherwise why it may not. */
  async inspect(message: Message, user: string): Promise<Violation | undefined> {
    const documentId = (message as { documentId?: string }).documentId
    if (!documentId) return undefined
    if (message.type === 'ephemeral') {
      await this.#registry.entry(documentId)
      return this.#registry.canRead(user, documentId) ? undefined : forbidden('not a member of this conversation')
    }
    if (message.type !== 'sync' && message.type !== 'request') return undefined
    const { changes } = Automerge.decodeSyncMessage(message.data!)
    // Reading is decided by the repo's access check, which answers doc-unavailable.
    if (changes.length === 0) return undefined
    return this.#checkChanges(documentId, changes, user)
  }

  async #checkChanges(documentId: string, blobs: Uint8Array[], user: string): Promise<Violation | undefined> {
    let decoded: DecodedChange[]
    let raw: Uint8Array[]
    try {
      ;({ decoded, raw } = decodeChanges(blobs))
    } catch (error) {
      return { code: CloseCodes.MALFORMED, reason: `a change in the sync message does not decode: ${(error as Error).message}` }
    }
    const entry = await this.#registry.entry(documentId)
    const doc = await this.#serverDoc(documentId, entry)
    const fresh = doc ? decoded.filter(change => !Automerge.hasHeads(doc, [change.hash])) : decoded
    if (fresh.length === 0) return undefined

    const actors = [...new Set(fresh.map(change => change.actor))]
    const unbound: string[] = []
    for (const actor of actors) {
      const owner = await this.#registry.actorOwner(actor)
      if (owner === undefined) unbound.push(actor)
      else if (owner !== user) return forbidden(`actor ${actor} belongs to another user`)
    }
    const violation = doc ? await this.#checkStored(documentId, entry, doc, fresh, user) : await this.#checkNew(documentId, entry, raw, user)
    if (violation) return violation
    for (const actor of unbound) await this.#registry.bindActor(actor, user)
    const pending = this.#pending.get(documentId)
    if (pending) this.#pending.set(documentId, Automerge.applyChanges(Automerge.clone(pending), raw)[0])
    return undefined
  }

  /** The document as the server holds it (or is about to), undefined when it holds none. */
  async #serverDoc(documentId: string, entry: DocEntry | null): Promise<Doc<unknown> | undefined> {
    const handle = this.#repo.handles[documentId as DocumentId]
    if (handle?.isReady()) {
      this.#pending.delete(documentId)
      return handle.doc()
    }
    const pending = this.#pending.get(documentId)
    if (pending || entry === null || (entry.type === 'segment' && entry.reserved)) return pending
    // Registered but not saved (the server was killed in between): the creator re-sends it.
    if (!(await this.#isStored(documentId))) return undefined
    try {
      return (await this.#repo.find(documentId as DocumentId)).doc()
    } catch {
      return undefined
    }
  }

  async #checkStored(documentId: string, entry: DocEntry | null, doc: Doc<unknown>, changes: DecodedChange[], user: string): Promise<Violation | undefined> {
    switch (entry?.type) {
      case 'head': {
        const result = checkHeadChanges(doc as HeadDoc, changes, user, this.#limits)
        return this.#checkSegmentIds(documentId, result)
      }
      case 'segment': {
        const role = this.#roleIn(entry.conversation, user, entry.creator)
        if (!role) return forbidden('not a member of this conversation')
        return checkSegmentChanges(doc as SegmentDoc, changes, user, role, this.#limits)
      }
      case 'inbox':
        return forbidden('inboxes are written by the server only')
      default:
        return forbidden('this document is not registered to any conversation')
    }
  }

  /** A document the server does not hold yet: the user creates it, and must be allowed to. */
  async #checkNew(documentId: string, entry: DocEntry | null, raw: Uint8Array[], user: string): Promise<Violation | undefined> {
    let doc: Doc<unknown>
    try {
      doc = Automerge.applyChanges(Automerge.init(), raw)[0]
    } catch {
      return { code: CloseCodes.MALFORMED, reason: 'the changes of a new document do not apply' }
    }
    if (Automerge.getMissingDeps(doc, []).length > 0) return forbidden('a new document must arrive with its first change')
    const type = documentType(doc)
    if (documentId === inboxDocumentId(user) && type === DocumentTypes.inbox) {
      // Clients may hold their inbox's deterministic genesis; nothing else.
      const genesis = Automerge.getAllChanges(Automerge.load(inboxGenesis(user))).map(change => Automerge.decodeChange(change).hash)
      return raw.every(change => genesis.includes(Automerge.decodeChange(change).hash)) ? undefined : forbidden('inboxes are written by the server only')
    }
    if (!mayCreate(entry, user)) return forbidden('this document ID is already registered')

    if (type === DocumentTypes.head) {
      if (entry !== null && entry.type !== 'head') return forbidden('this document ID is reserved for a segment')
      const result = checkNewHead(doc as HeadDoc, user, this.#limits)
      const violation = await this.#checkSegmentIds(documentId, result)
      if (violation) return violation
      const members = Object.fromEntries(Object.entries(readHead(doc as HeadDoc).members).map(([member, { role }]) => [member, role]))
      await this.#registry.register(documentId, { type: 'head', members })
    } else if (type === DocumentTypes.segment) {
      const conversation = segmentConversation(doc as SegmentDoc)
      if (!conversation) return forbidden('not a well-formed segment')
      if (entry !== null && (entry.type !== 'segment' || entry.conversation !== conversation)) return forbidden('this segment ID is reserved for another conversation')
      const head = await this.#registry.entry(conversation)
      if (head !== null && head.type !== 'head') return forbidden('a segment must name a conversation head')
      // A segment may arrive before the head that lists it (both created offline).
      const role = head === null ? 'member' : head.members[user]
      if (!role) return forbidden('not a member of this conversation')
      const violation = checkNewSegment(doc as SegmentDoc, user, role, this.#limits)
      if (violation) return violation
      await this.#registry.register(documentId, { type: 'segment', conversation, creator: user })
    } else {
      return forbidden('not a Parley document (head, segment or inbox)')
    }
    this.#pending.set(documentId, doc)
    return undefined
  }

  /** Segment IDs a head lists must be this conversation's segments, or unknown (then reserved for it). */
  async #checkSegmentIds(conversationId: string, result: HeadCheck): Promise<Violation | undefined> {
    if (result.violation) return result.violation
    for (const segmentId of result.segments) {
      if (!isValidDocumentId(segmentId)) return forbidden(`${JSON.stringify(segmentId.slice(0, 60))} is not a document ID`)
      const entry = await this.#registry.entry(segmentId)
      if (entry === null) await this.#registry.register(segmentId, { type: 'segment', conversation: conversationId, reserved: true })
      else if (entry.type !== 'segment' || entry.conversation !== conversationId) return forbidden(`${segmentId} is not a segment of this conversation`)
    }
    return undefined
  }

  #roleIn(conversationId: string, user: string, creator: string | undefined): Role | undefined {
    const members = this.#registry.membersOf(conversationId)
    if (members) return members[user]
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
      return entry.members[user] === 'owner'
    case 'inbox':
      return false
  }
}
