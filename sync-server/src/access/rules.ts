/**
 * What a user may change in each kind of document, checked op by op on the decoded
 * Automerge changes before the repo applies them (Automerge changes are not signed, so
 * this is the only place a forged author or a rewritten event can be stopped).
 *
 * - Segment: only new entries in `events` (an insert of one scalar string, no
 *   predecessor), each a valid event authored by the user. Nothing is ever overwritten
 *   or deleted. Where in the list it lands does not matter: concurrent appends interleave
 *   anyway, and every reader orders events by their clock.
 * - Head: `title` by owners and admins; members added or removed by owners and admins
 *   (any member may remove themselves), roles changed by owners; new segment IDs
 *   appended by any member; each member writes only their own read cursor.
 * - Inbox: written by the server only.
 *
 * Pure functions over a document and decoded changes: no I/O, so every rule is unit
 * tested with hand-built changes.
 */
import { next as Automerge, type DecodedChange } from '@automerge/automerge'
import { CoreErrorCodes, DocumentTypes, documentType, isParleyError, isValidUserId, memberRole, parseEvent, readHead, readString, ROLES, segmentBytes, segmentBytesBound, utf8Length, type HeadDoc, type InboxDoc, type Limits, type ParleyEvent, type Role, type SegmentDoc } from '@parley/core'
import { CloseCodes, type CloseCode } from '../close-codes.ts'

export interface Violation {
  code: CloseCode
  reason: string
}

type Op = DecodedChange['ops'][number] & { insert?: boolean; elemId?: string }

const MANAGERS: readonly Role[] = ['owner', 'admin']
const HEAD_FIELDS = ['type', 'kind', 'title', 'createdBy', 'createdAt', 'members', 'segments', 'reads']
const SEGMENT_FIELDS = ['type', 'conversation', 'events']

const forbidden = (reason: string): Violation => ({ code: CloseCodes.FORBIDDEN, reason })

const isStringSet = (op: Op): op is Op & { value: string } => op.action === 'set' && typeof op.value === 'string'
const isAppend = (op: Op, list: string | null): op is Op & { value: string } =>
  isStringSet(op) && op.obj === list && op.insert === true && op.pred.length === 0

/** Owners and admins manage a conversation: its title and its members. */
export const manages = (role: Role | undefined): boolean => role !== undefined && MANAGERS.includes(role)

/** Why a member with `role` may not add someone as `added`; undefined when they may. The sync checks and the HTTP routes share it. */
export function refusesAdding(role: Role | undefined, added: Role): string | undefined {
  if (!manages(role)) return `a ${role ?? 'non-member'} may not add members`
  return added === 'owner' && role !== 'owner' ? 'only an owner may add owners' : undefined
}

/** Why `user` (with `role`) may not remove `member` (with `memberRole`); anyone may leave. */
export function refusesRemoving(user: string, role: Role | undefined, member: string, memberRole: Role | undefined): string | undefined {
  if (member === user || role === 'owner' || (manages(role) && memberRole !== 'owner')) return undefined
  return `a ${role ?? 'non-member'} may not remove ${member}`
}

/** Why a member with `role` may not change an existing member's role (replacing their entry is one); only owners may. */
export function refusesRoleChange(role: Role | undefined, member: string): string | undefined {
  return role === 'owner' ? undefined : `a ${role ?? 'non-member'} may not change roles (${member} is already a member)`
}

/** One change to one member: added (re-adding an existing member changes their role) or removed. */
export type MembershipChange = { type: 'add'; role: Role } | { type: 'remove' }

/**
 * The one rule set for membership, asked by the sync checks (checkHeadChanges) and the
 * HTTP routes (conversations/service.ts) alike: why `user` (with `role`) may not make
 * `change` to `member`, whose current role is `current` (undefined: not a member).
 * Owners and admins add members, only owners add owners; adding someone who is already a
 * member is a role change, which only owners make; owners remove anyone, admins anyone
 * but owners, and everyone may leave.
 */
export function refusesMembershipChange(user: string, role: Role | undefined, member: string, current: Role | undefined, change: MembershipChange): string | undefined {
  if (change.type === 'remove') return refusesRemoving(user, role, member, current)
  return refusesAdding(role, change.role) ?? (current === undefined ? undefined : refusesRoleChange(role, member))
}

/** An event written by `user`, valid, and of a type their role allows. */
export function checkEvent(json: string, user: string, role: Role | undefined, limits: Limits): Violation | ParleyEvent {
  let event: ParleyEvent
  try {
    event = parseEvent(json, limits)
  } catch (error) {
    if (isParleyError(error) && error.code === CoreErrorCodes.TEXT_TOO_LARGE) return { code: CloseCodes.TOO_LARGE, reason: error.message }
    return { code: CloseCodes.MALFORMED, reason: `invalid event: ${(error as Error).message}` }
  }
  if (event.author !== user) return forbidden(`event ${event.id} names ${event.author} as author`)
  // Only the server decides about content; it writes its decisions itself (docs/moderation.md).
  if (event.type === 'moderated') return forbidden('moderated events are written by the server only')
  if ((event.type === 'member-added' || event.type === 'title-changed') && !manages(role)) return forbidden(`a ${role ?? 'non-member'} may not write ${event.type} events`)
  if (event.type === 'member-removed' && event.member !== user && !manages(role)) return forbidden(`a ${role ?? 'non-member'} may not remove others`)
  return event
}

/** New changes to a stored segment: appends of the user's own events only, up to the segment's byte limit. */
export function checkSegmentChanges(doc: SegmentDoc, changes: DecodedChange[], user: string, role: Role | undefined, limits: Limits): Violation | undefined {
  const events = Automerge.getObjectId(doc, 'events')
  let appended = 0
  for (const change of changes) {
    for (const op of change.ops as Op[]) {
      if (!isAppend(op, events)) return forbidden(op.obj === events ? 'events are append-only: an existing event was changed or removed' : `segment field ${op.key ?? op.obj} may not be changed`)
      const checked = checkEvent(op.value, user, role, limits)
      if ('code' in checked) return checked
      appended += utf8Length(op.value)
    }
  }
  return segmentTooLarge(doc, appended, limits)
}

/** A segment past `maxSegmentBytes` would block the event loop of everyone who loads it (core SEGMENT_BYTES). */
function segmentTooLarge(doc: SegmentDoc, appended: number, limits: Limits): Violation | undefined {
  if (segmentBytesBound(doc) + appended <= limits.maxSegmentBytes) return undefined
  const bytes = segmentBytes(doc) + appended
  if (bytes <= limits.maxSegmentBytes) return undefined
  return { code: CloseCodes.TOO_LARGE, reason: `a segment holds at most ${limits.maxSegmentBytes} bytes of events (${bytes} with these); start the next segment` }
}

/**
 * Changes to the user's own inbox: only entries of `conversations` added (with their
 * `addedAt`) or removed. Inboxes are the server's; this is what a client re-sends of
 * the server's own writes after the server lost them.
 */
export function checkInboxChanges(doc: InboxDoc, changes: DecodedChange[]): Violation | undefined {
  const conversations = Automerge.getObjectId(doc, 'conversations')
  for (const change of changes) {
    const added = new Set<string>()
    for (const [index, op] of (change.ops as Op[]).entries()) {
      if (op.obj === conversations && (op.action === 'makeMap' || op.action === 'del')) {
        if (op.action === 'makeMap') added.add(`${change.startOp + index}@${change.actor}`)
        continue
      }
      if (added.has(op.obj) && op.key === 'addedAt' && op.action === 'set' && typeof op.value === 'number') continue
      // The server's mark that a legacy inbox was merged in (sync-server/src/inbox.ts).
      if (op.obj === '_root' && op.key === 'legacyMerged' && op.action === 'set' && op.value === true) continue
      return forbidden('inboxes are written by the server only')
    }
  }
  return undefined
}

/** The segment IDs a head change appends, for the caller to check against the registry. */
export type HeadCheck = { violation: Violation } | { violation?: undefined; segments: string[] }

/** New changes to a stored conversation head, against the user's role in it. */
export function checkHeadChanges(doc: HeadDoc, changes: DecodedChange[], user: string, limits: Limits): HeadCheck {
  const head = readHead(doc)
  const role = memberRole(head, user)
  if (!role) return { violation: forbidden('not a member of this conversation') }
  const ids = {
    members: Automerge.getObjectId(doc, 'members'),
    segments: Automerge.getObjectId(doc, 'segments'),
    reads: Automerge.getObjectId(doc, 'reads'),
  }
  const entryOwner = new Map<string, string>()
  for (const member of Object.keys(head.members)) {
    const id = Automerge.getObjectId(doc.members, member)
    if (id) entryOwner.set(id, member)
  }
  const currentRole = (member: string | undefined): Role | undefined => (member !== undefined ? memberRole(head, member) : undefined)
  const segments: string[] = []
  for (const change of changes) {
    // Member entries created in this change: their op IDs are startOp + index.
    const added = new Set<string>()
    for (const [index, op] of (change.ops as Op[]).entries()) {
      const problem = checkHeadOp(op)
      if (problem) return { violation: forbidden(problem) }
      if (op.obj === ids.members && op.action === 'makeMap') added.add(`${change.startOp + index}@${change.actor}`)
    }

    function checkHeadOp(op: Op): string | undefined {
      if (op.obj === '_root') {
        if (op.key !== 'title' || !isStringSet(op)) return `conversation field ${op.key} may not be changed`
        if (!manages(role)) return `a ${role} may not change the title`
        if (new TextEncoder().encode(op.value).byteLength > limits.maxTitleBytes) return `title is longer than ${limits.maxTitleBytes} bytes`
        return undefined
      }
      if (op.obj === ids.members) {
        if (op.action === 'makeMap' && !isValidUserId(op.key)) return `${JSON.stringify(String(op.key).slice(0, 60))} is not a valid user ID`
        // The new entry's role is checked with its own op (checkNewMemberField).
        // Replacing an entry (a predecessor, or a member the stored head already has, even
        // with no predecessor named) changes a role: refusesMembershipChange's rule.
        if (op.action === 'makeMap') return refusesAdding(role, 'member') ?? (op.pred.length > 0 || currentRole(op.key) !== undefined ? refusesRoleChange(role, op.key ?? '') : undefined)
        if (op.action === 'del') return refusesRemoving(user, role, op.key, currentRole(op.key))
        return 'members may only be added or removed'
      }
      if (added.has(op.obj)) return checkNewMemberField(op)
      if (entryOwner.has(op.obj)) {
        if (op.key !== 'role' || !isStringSet(op) || !ROLES.includes(op.value as Role)) return 'only a member\'s role may change'
        return refusesRoleChange(role, entryOwner.get(op.obj) ?? '')
      }
      if (op.obj === ids.segments) {
        if (!isAppend(op, ids.segments)) return 'the segment list is append-only'
        segments.push(op.value)
        return undefined
      }
      if (op.obj === ids.reads) {
        if (op.key !== user || !isStringSet(op)) return `may not change the read cursor of ${op.key}`
        const receipt = checkEvent(op.value, user, role, limits)
        return 'code' in receipt ? receipt.reason : receipt.type === 'read' ? undefined : 'a read cursor must be a read event'
      }
      return `may not change object ${op.obj}`
    }

    function checkNewMemberField(op: Op): string | undefined {
      if (op.key === 'role') {
        if (!isStringSet(op) || !ROLES.includes(op.value as Role)) return 'invalid role'
        return refusesAdding(role, op.value as Role)
      }
      if (op.key === 'addedBy') return isStringSet(op) && op.value === user ? undefined : 'addedBy must name the user adding'
      if (op.key === 'at') return op.action === 'set' && typeof op.value === 'number' ? undefined : 'at must be a number'
      return `member entries have no field ${op.key}`
    }
  }
  return { segments }
}

/** A head document created by `user`: they are its owner and wrote everything in it. */
export function checkNewHead(doc: HeadDoc, user: string, limits: Limits): HeadCheck {
  const extra = Object.keys(doc).find(key => !HEAD_FIELDS.includes(key))
  if (extra) return { violation: forbidden(`a conversation head has no field ${extra}`) }
  let head
  try {
    head = readHead(doc)
  } catch (error) {
    return { violation: forbidden((error as Error).message) }
  }
  if (head.createdBy !== user) return { violation: forbidden(`a head created by ${user} names ${head.createdBy} as creator`) }
  if (memberRole(head, user) !== 'owner') return { violation: forbidden('the creator must be an owner') }
  // A key `__proto__` comes out of Automerge as the object's prototype, not as a key.
  if (hasInheritedKey(doc.members) || hasInheritedKey(doc.reads)) return { violation: forbidden('member names must be valid user IDs') }
  for (const [member, entry] of Object.entries(head.members)) {
    if (!isValidUserId(member)) return { violation: forbidden(`${JSON.stringify(member.slice(0, 60))} is not a valid user ID`) }
    if (!ROLES.includes(entry.role)) return { violation: forbidden(`invalid role for ${member}`) }
    if (entry.addedBy !== user) return { violation: forbidden(`member ${member} must be added by the creator`) }
  }
  if (new TextEncoder().encode(head.title).byteLength > limits.maxTitleBytes) return { violation: forbidden(`title is longer than ${limits.maxTitleBytes} bytes`) }
  for (const [member, json] of Object.entries(doc.reads ?? {})) {
    if (member !== user) return { violation: forbidden(`may not set the read cursor of ${member}`) }
    const receipt = checkEvent(readString(json) ?? '', user, 'owner', limits)
    if ('code' in receipt) return { violation: receipt }
  }
  return { segments: head.segments }
}

/** A materialized map whose prototype is not Object's: it held a key `__proto__`. */
function hasInheritedKey(map: unknown): boolean {
  return typeof map === 'object' && map !== null && Object.getPrototypeOf(map) !== Object.prototype
}

/**
 * The ops of a new document, before the guard applies them (applying costs ~20 µs per op
 * on Automerge 2.2.9; refusing here costs the decode only): it must set a Parley document
 * type at its root, and every list element it inserts must be a string (the lists of
 * Parley documents, events and segment IDs, hold scalar strings only).
 */
export function checkNewDocumentOps(changes: DecodedChange[]): Violation | undefined {
  let typed = false
  for (const change of changes) {
    for (const op of change.ops as Op[]) {
      if (op.obj === '_root' && op.key === 'type' && isStringSet(op) && (Object.values(DocumentTypes) as string[]).includes(op.value)) typed = true
      if (op.insert && !isStringSet(op)) return forbidden('Parley documents hold only strings in lists')
    }
  }
  // With the first change missing, the guard holds the rest back (it cannot check them): let that through.
  return typed || changes.every(change => change.deps.length > 0) ? undefined : forbidden('not a Parley document (head, segment or inbox)')
}

/** The conversation a new segment document names, read before its role-bound events are checked. */
export function segmentConversation(doc: SegmentDoc): string | undefined {
  const conversation = readString(doc.conversation)
  return documentType(doc) === DocumentTypes.segment && conversation && Array.isArray(doc.events) ? conversation : undefined
}

/** A segment document created by `user` (whose role in its conversation is `role`): only their own events. */
export function checkNewSegment(doc: SegmentDoc, user: string, role: Role | undefined, limits: Limits): Violation | undefined {
  const extra = Object.keys(doc).find(key => !SEGMENT_FIELDS.includes(key))
  if (extra) return forbidden(`a segment has no field ${extra}`)
  if (!segmentConversation(doc)) return forbidden('not a well-formed segment')
  for (const json of doc.events) {
    const checked = checkEvent(readString(json) ?? '', user, role, limits)
    if ('code' in checked) return checked
  }
  return segmentTooLarge(doc, 0, limits)
}
