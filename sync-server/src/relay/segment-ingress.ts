/**
 * The access check for changes a client sends to a segment served by the relay core:
 * the guard's rules (access/guard.ts) for segments, on changes decoded once and the
 * log's small SegmentState, with no Automerge document. It reads the registry and
 * returns a verdict with the registry writes to make (`SegmentEffects`), which the hub
 * makes. The changes it accepts are recorded by the log's write (hub.ts #written): a
 * client may re-send another user's change only if the log holds it, or if the registry
 * recorded it as accepted (what servers before 2026-12-06 did, and still do for the
 * server's own changes).
 */
import type { DecodedChange } from '@automerge/automerge'
import { isValidUserId, type Limits, type ParleyEvent, type Role } from '@parley/core'
import { ChunkError, DECODE_BUDGET, decodeChanges, type ChargeWork } from '../access/chunks.ts'
import { roleIn, type AccessRegistry, type DocEntry } from '../access/registry.ts'
import type { Violation } from '../access/rules.ts'
import { checkSegmentLogChanges, isViolation, segmentGenesis, type SegmentState } from '../access/segment-log-rules.ts'
import { CloseCodes } from '../close-codes.ts'
import { refusesEventIdReuse, type EventIdLookups } from '../events/event-ids.ts'
import type { ChangeMeta } from './change-chunk.ts'

export interface SegmentEffects {
  /** Actors first seen here, bound to `user`. */
  readonly bind: readonly string[]
  readonly user: string
  /** A new segment's registry entry. */
  readonly register?: DocEntry
}

/** The changes to append, one chunk each, with the headers their check read (ChangeLog append's `known`). */
type Checked = { changes: Uint8Array[]; headers: ReadonlyMap<Uint8Array, ChangeMeta> }

export type IngressVerdict =
  /** `foreign`: a change of another user's actor that neither the log nor the registry holds. */
  | { ok: false; violation: Violation; foreign?: true }
  /** Nothing new to check: every change is in the log already. */
  | ({ ok: true; fresh: false } & Checked)
  /** A new segment without its creation change: cannot be checked, so held back (the client is asked to start over). */
  | { ok: true; fresh: false; held: true; changes: []; headers?: undefined }
  | ({ ok: true; fresh: true; state: SegmentState; events: Map<string, ParleyEvent[]>; effects: SegmentEffects } & Checked)

const forbidden = (reason: string): Violation => ({ code: CloseCodes.FORBIDDEN, reason })

export interface IngressContext {
  readonly registry: AccessRegistry
  readonly limits: Limits
  /** The server sequence, to refuse an event ID another author has (events/event-ids.ts); none: not checked. */
  readonly index?: EventIdLookups
}

/**
 * Checks `blobs` (a sync message's changes) from `user` for segment `documentId`, whose
 * log has `seen` and is at `state` (null: the server holds none of it yet).
 */
export async function checkSegmentIngress(
  ctx: IngressContext,
  documentId: string,
  state: SegmentState | null,
  seen: (hash: string) => boolean,
  blobs: readonly Uint8Array[],
  user: string,
  /** The author of a recent event of this segment that the index may not have numbered yet. */
  recentAuthor: (eventId: string) => string | undefined = () => undefined,
  /** The sender's rate budget, charged the measured decoding work before the decode (access/chunks.ts). */
  charge?: ChargeWork,
): Promise<IngressVerdict> {
  if (!isValidUserId(user)) return { ok: false, violation: forbidden(`${JSON.stringify(user.slice(0, 60))} is not a valid user ID`) }
  let decoded: DecodedChange[]
  let raw: Uint8Array[]
  try {
    // Measured from the layout before Automerge decodes anything (access/chunk-format.ts).
    ;({ decoded, raw } = decodeChanges([...blobs], DECODE_BUDGET, charge))
  } catch (error) {
    const kind = error instanceof ChunkError ? error.kind : 'malformed'
    const message = (error as Error).message
    if (kind === 'too-large') return { ok: false, violation: { code: CloseCodes.TOO_LARGE, reason: `the changes in the sync message are too large to decode: ${message}` } }
    if (kind === 'forbidden') return { ok: false, violation: forbidden(`Parley documents hold maps, lists and scalars only: ${message}`) }
    if (kind === 'rate-limited') return { ok: false, violation: { code: CloseCodes.RATE_LIMITED, reason: `rate limited: ${message}` } }
    return { ok: false, violation: { code: CloseCodes.MALFORMED, reason: `a change in the sync message does not decode: ${message}` } }
  }
  const checked: Checked = { changes: raw, headers: new Map(raw.map((bytes, i) => [bytes, decoded[i]!])) }
  const fresh = decoded.filter(change => !seen(change.hash))
  if (fresh.length === 0) return { ok: true, fresh: false, ...checked }

  const own: DecodedChange[] = []
  const restored: DecodedChange[] = []
  const bind = new Set<string>()
  for (const change of fresh) {
    const owner = await ctx.registry.actorOwner(change.actor)
    if (owner === undefined) bind.add(change.actor)
    if (owner === undefined || owner === user) own.push(change)
    else if (await ctx.registry.wasAccepted(change.hash)) restored.push(change)
    else return { ok: false, violation: forbidden(`actor ${change.actor} belongs to another user`), foreign: true }
  }

  const entry = await ctx.registry.entry(documentId)
  let register: DocEntry | undefined
  let start = state
  if (start === null) {
    const genesis = segmentGenesis(fresh)
    if (genesis === undefined) return { ok: true, fresh: false, held: true, changes: [] }
    if (isViolation(genesis)) return { ok: false, violation: genesis }
    if (own.some(change => change.deps.length === 0)) {
      const refusal = await refusesCreating(ctx.registry, entry, genesis.conversation, user)
      if (refusal) return { ok: false, violation: refusal }
      register = { type: 'segment', conversation: genesis.conversation, creator: user }
    } else if (entry?.type !== 'segment' || entry.conversation !== genesis.conversation) {
      // Its first change was accepted before (restored after a crash): the entry must agree.
      return { ok: false, violation: forbidden('this segment ID is reserved for another conversation') }
    }
    start = genesis
  } else if (entry?.type !== 'segment') {
    return { ok: false, violation: forbidden('this document is not registered to any conversation') }
  }
  const role = register ? await creatorRole(ctx.registry, start.conversation, user) : roleOf(ctx.registry, start.conversation, user, entry?.type === 'segment' ? entry.creator : undefined)
  if (own.length > 0 && !role) return { ok: false, violation: forbidden('not a member of this conversation') }
  const result = checkSegmentLogChanges(start, own, restored, user, role, ctx.limits, state === null)
  if (isViolation(result)) return { ok: false, violation: result }
  // Event-ID shadowing (docs/security.md): an ID this conversation already has from another author.
  const shadowing = await refusesEventIdReuse(ctx.index, start.conversation, own.flatMap(change => result.events.get(change.hash) ?? []), recentAuthor)
  if (shadowing) return { ok: false, violation: forbidden(shadowing) }
  const effects: SegmentEffects = { bind: [...bind], user, ...(register && { register }) }
  return { ok: true, fresh: true, ...checked, state: result.state, events: result.events, effects }
}

/** Recent events remembered per segment for the event-ID check (events/event-ids.ts looks at as many). */
const RECENT_EVENTS = 128

/** Records the authors of a segment's newest events by ID in `recent`, keeping the last RECENT_EVENTS. */
export function rememberAuthors(recent: Map<string, string>, events: readonly ParleyEvent[]): void {
  for (const event of events.slice(-RECENT_EVENTS)) {
    recent.delete(event.id)
    recent.set(event.id, event.author)
    if (recent.size > RECENT_EVENTS) recent.delete(recent.keys().next().value!)
  }
}

/**
 * May `user` create this segment of `conversation`? As the guard's `mayCreate` and
 * `#checkNew` for segments: a new ID, one a head reserved for this conversation, or one
 * the same user registered before a crash; the conversation must be a head (or unknown:
 * a segment may arrive before the head that lists it).
 */
async function refusesCreating(registry: AccessRegistry, entry: DocEntry | null, conversation: string, user: string): Promise<Violation | undefined> {
  if (entry !== null) {
    if (entry.type !== 'segment' || entry.conversation !== conversation) return forbidden('this segment ID is reserved for another conversation')
    if (entry.reserved !== true && entry.creator !== user) return forbidden('this document ID is already registered')
  }
  const head = await registry.entry(conversation)
  if (head !== null && head.type !== 'head') return forbidden('a segment must name a conversation head')
  return undefined
}

async function creatorRole(registry: AccessRegistry, conversation: string, user: string): Promise<Role | undefined> {
  const head = await registry.entry(conversation)
  return head?.type === 'head' ? roleIn(head.members, user) : 'member'
}

/** The guard's `#roleIn`: the conversation's members, or the segment's creator while its head is unknown. */
function roleOf(registry: AccessRegistry, conversation: string, user: string, creator: string | undefined): Role | undefined {
  const members = registry.membersOf(conversation)
  if (members) return roleIn(members, user)
  return creator === user ? 'member' : undefined
}
