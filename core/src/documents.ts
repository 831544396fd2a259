/**
 * The shapes of the three Automerge documents a conversation lives in, and the only
 * code that writes or reads them. Functions named `init*`/`add*`/`append*`/`set*` are
 * called inside an automerge-repo `handle.change` callback; `read*` take a document.
 *
 * An event is stored as one scalar string of JSON: one Automerge op per event instead
 * of one per field. Measured on Automerge 2.2.9 with 1,000 events: append 0.08 ms vs
 * 0.25–0.37 ms, load 18–26 ms vs 43–56 ms, 30 % fewer bytes. Events are immutable, so
 * nothing is lost by not being able to change a field in place.
 */
import { next as Automerge } from '@automerge/automerge'
import { CoreErrorCodes, ParleyError } from './errors.ts'
import type { ParleyEvent, ReadEvent, Role } from './events.ts'
import bs58check from 'bs58check'
import { derivedBytes, derivedDocumentId } from './ids.ts'
import { readString, scalar, type Scalar } from './scalar.ts'
import { utf8Length } from './utf8.ts'
import { DEFAULT_LIMITS, parseEvent, type Limits } from './validate.ts'

/** Events per segment document before a writer starts the next one. */
export const SEGMENT_SIZE = 1000

/**
 * UTF-8 bytes of event JSON in a segment before a writer starts the next one, whatever
 * its event count. Loading a document and generating its first sync message each block
 * the server's event loop for about 9 ms per MiB (docs/reliability.md), so a segment of
 * long messages is kept small. The server refuses appends beyond `Limits.maxSegmentBytes`,
 * which leaves room for writers that append concurrently, unaware of each other.
 */
export const SEGMENT_BYTES = 512 * 1024

export const DocumentTypes = {
  head: 'parley/head',
  segment: 'parley/segment',
  inbox: 'parley/inbox',
} as const

export type ConversationKind = 'direct' | 'group' | 'channel'
export const CONVERSATION_KINDS: readonly ConversationKind[] = ['direct', 'group', 'channel']

export interface MemberEntry {
  role: Scalar
  addedBy: Scalar
  at: number
}

export interface HeadDoc {
  type: Scalar
  kind: Scalar
  title: Scalar
  createdBy: Scalar
  createdAt: number
  members: Record<string, MemberEntry>
  /** Segment document IDs, oldest first. Concurrent writers may each append one. */
  segments: Scalar[]
  /** Each member's latest read receipt, as the JSON of a `read` event. */
  reads: Record<string, Scalar>
}

export interface SegmentDoc {
  type: Scalar
  conversation: Scalar
  /** Each event as one scalar string of JSON; append only. */
  events: Scalar[]
}

export interface InboxDoc {
  type: Scalar
  user: Scalar
  conversations: Record<string, { addedAt: number }>
  /** Set by the server once the inbox of the legacy ID (legacyInboxDocumentId) is merged in. */
  legacyMerged?: boolean
}

export interface Head {
  kind: ConversationKind
  title: string
  createdBy: string
  createdAt: number
  members: Record<string, { role: Role; addedBy: string; at: number }>
  segments: string[]
  reads: Record<string, ReadEvent>
}

export function documentType(doc: unknown): string | undefined {
  return typeof doc === 'object' && doc !== null ? readString((doc as { type?: unknown }).type) : undefined
}

function member(role: Role, addedBy: string, at: number): MemberEntry {
  return { role: scalar(role), addedBy: scalar(addedBy), at }
}

export function initHead(
  doc: HeadDoc,
  init: { kind: ConversationKind; title: string; creator: string; members: string[]; at: number; firstSegment: string },
): void {
  doc.type = scalar(DocumentTypes.head)
  doc.kind = scalar(init.kind)
  doc.title = scalar(init.title)
  doc.createdBy = scalar(init.creator)
  doc.createdAt = init.at
  doc.members = { [init.creator]: member('owner', init.creator, init.at) }
  for (const user of init.members) {
    if (user !== init.creator) doc.members[user] = member('member', init.creator, init.at)
  }
  doc.segments = [scalar(init.firstSegment)]
  doc.reads = {}
}

export function addMember(doc: HeadDoc, user: string, role: Role, addedBy: string, at: number): void {
  doc.members[user] = member(role, addedBy, at)
}

export function removeMember(doc: HeadDoc, user: string): void {
  delete doc.members[user]
}

export function setTitle(doc: HeadDoc, title: string): void {
  doc.title = scalar(title)
}

export function addSegment(doc: HeadDoc, segmentId: string): void {
  doc.segments.push(scalar(segmentId))
}

export function setReadCursor(doc: HeadDoc, receipt: ReadEvent): void {
  doc.reads[receipt.author] = scalar(JSON.stringify(receipt))
}

/** The role `user` holds in a conversation, own members only. */
export function memberRole(head: Pick<Head, 'members'>, user: string): Role | undefined {
  return Object.hasOwn(head.members, user) ? head.members[user]!.role : undefined
}

export function readHead(doc: HeadDoc): Head {
  if (documentType(doc) !== DocumentTypes.head) {
    throw new ParleyError(CoreErrorCodes.INVALID_DOCUMENT, 'not a conversation head document')
  }
  // Null prototypes: `members[user]` for a user named `constructor` finds nothing (docs/security.md).
  const members: Head['members'] = Object.create(null)
  for (const [user, entry] of Object.entries(doc.members ?? {})) {
    members[user] = { role: readString(entry.role) as Role, addedBy: readString(entry.addedBy) ?? '', at: entry.at }
  }
  const reads: Head['reads'] = Object.create(null)
  for (const [user, json] of Object.entries(doc.reads ?? {})) {
    const receipt = tryParse(readString(json))
    if (receipt?.type === 'read' && receipt.author === user) reads[user] = receipt
  }
  return {
    kind: readString(doc.kind) as ConversationKind,
    title: readString(doc.title) ?? '',
    createdBy: readString(doc.createdBy) ?? '',
    createdAt: doc.createdAt,
    members,
    segments: (doc.segments ?? []).map(id => readString(id)!).filter(Boolean),
    reads,
  }
}

export function initSegment(doc: SegmentDoc, conversationId: string): void {
  doc.type = scalar(DocumentTypes.segment)
  doc.conversation = scalar(conversationId)
  doc.events = []
}

export function appendEvent(doc: SegmentDoc, event: ParleyEvent): void {
  doc.events.push(scalar(JSON.stringify(event)))
}

export function segmentLength(doc: SegmentDoc): number {
  return doc.events?.length ?? 0
}

/** UTF-8 bytes of the event JSON a segment holds. */
export function segmentBytes(doc: SegmentDoc): number {
  let bytes = 0
  for (const json of doc.events ?? []) bytes += utf8Length(readString(json) ?? '')
  return bytes
}

/** At least `segmentBytes`, and cheaper: a UTF-16 code unit is at most 3 UTF-8 bytes. */
export function segmentBytesBound(doc: SegmentDoc): number {
  let units = 0
  for (const json of doc.events ?? []) units += readString(json)?.length ?? 0
  return units * 3
}

export function isSegmentFull(doc: SegmentDoc, size: number = SEGMENT_SIZE, maxBytes: number = SEGMENT_BYTES): boolean {
  return segmentLength(doc) >= size || (segmentBytesBound(doc) >= maxBytes && segmentBytes(doc) >= maxBytes)
}

function tryParse(json: string | undefined, limits: Limits = DEFAULT_LIMITS): ParleyEvent | undefined {
  if (json === undefined) return undefined
  try {
    return parseEvent(json, limits)
  } catch {
    return undefined
  }
}

/**
 * The valid events of a segment, from index `from` on. An entry that does not parse is
 * skipped (and counted), never thrown: one bad write must not hide a conversation.
 */
export function readSegmentEvents(
  doc: SegmentDoc,
  from = 0,
  limits: Limits = DEFAULT_LIMITS,
): { events: ParleyEvent[]; invalid: number } {
  const events: ParleyEvent[] = []
  let invalid = 0
  const stored = doc.events ?? []
  for (let i = from; i < stored.length; i++) {
    const event = tryParse(readString(stored[i]), limits)
    if (event) events.push(event)
    else invalid++
  }
  return { events, invalid }
}

/**
 * The user's inbox document ID. It lies in a namespace of IDs no other document may
 * take (isInboxNamespaceId): automerge-repo's own IDs are random UUIDs (version 4, so
 * byte 6 starts with 4 and byte 8 with binary 10), and these have bytes 6 and 8 zero.
 * The server refuses any document under such an ID except the connecting user's own
 * inbox, so nobody can occupy another user's inbox ID (docs/security.md, "Inbox ID
 * squatting"), and a device offline from the start still knows its inbox.
 */
export function inboxDocumentId(user: string): string {
  const bytes = derivedBytes('parley/inbox/v2', user)
  bytes[6] = 0
  bytes[8] = 0
  return bs58check.encode(bytes)
}

/** Is this a document ID in the inbox namespace (inboxDocumentId), whoever's it is? */
export function isInboxNamespaceId(documentId: string): boolean {
  let bytes: Uint8Array
  try {
    bytes = bs58check.decode(documentId)
  } catch {
    return false
  }
  return bytes.length === 16 && bytes[6] === 0 && bytes[8] === 0
}

/**
 * The inbox ID of releases before the namespace (an unkeyed hash anyone could occupy
 * first). A server keeps an inbox registered under it and merges it into the new one
 * (sync-server/src/inbox.ts); nothing new is created under it.
 */
export function legacyInboxDocumentId(user: string): string {
  return derivedDocumentId('parley/inbox', user)
}

/**
 * The first change of a user's inbox, byte for byte the same wherever it is made (fixed
 * actor derived from the user, time 0), so a client offline and every server node can
 * each create the inbox and still share one history.
 */
export function inboxGenesis(user: string): Uint8Array {
  const actor = [...derivedBytes('parley/inbox-actor', user)].map(b => b.toString(16).padStart(2, '0')).join('')
  const doc = Automerge.change(Automerge.init<InboxDoc>({ actor }), { time: 0 }, d => {
    d.type = scalar(DocumentTypes.inbox)
    d.user = scalar(user)
    d.conversations = {}
  })
  return Automerge.save(doc)
}

export function addToInbox(doc: InboxDoc, conversationId: string, at: number): void {
  if (!Object.hasOwn(doc.conversations, conversationId)) doc.conversations[conversationId] = { addedAt: at }
}

export function removeFromInbox(doc: InboxDoc, conversationId: string): void {
  delete doc.conversations[conversationId]
}

export function readInbox(doc: InboxDoc): string[] {
  return Object.keys(doc.conversations ?? {})
}
