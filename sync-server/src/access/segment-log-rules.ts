/**
 * The segment rules of rules.ts (`checkNewSegment`, `checkSegmentChanges`) over decoded
 * changes and a small per-log state instead of an Automerge document, for the relay core
 * (relay/hub.ts), which keeps no document. What the document rules read of a segment is
 * the `events` list's object ID (from the change that created it) and the bytes of event
 * JSON it holds: `SegmentState` keeps exactly those, updated change by change.
 *
 * Pure: a verdict and the new state; the caller applies the effects (registry writes).
 */
import type { DecodedChange } from '@automerge/automerge'
import { DocumentTypes, parseEvent, utf8Length, type Limits, type ParleyEvent, type Role } from '@parley/core'
import { CloseCodes } from '../close-codes.ts'
import { checkEvent, type Violation } from './rules.ts'

export interface SegmentState {
  readonly conversation: string
  /** Object ID of the `events` list (`counter@actor` of the op that made it). */
  readonly events: string
  /** UTF-8 bytes of the event JSON the segment holds. */
  readonly bytes: number
  /** Entries in `events`. */
  readonly count: number
}

type Op = DecodedChange['ops'][number] & { insert?: boolean }

const SEGMENT_FIELDS = ['type', 'conversation', 'events']
const forbidden = (reason: string): Violation => ({ code: CloseCodes.FORBIDDEN, reason })
const isStringSet = (op: Op): op is Op & { value: string } => op.action === 'set' && typeof op.value === 'string'

/**
 * The segment that new changes (the first with no deps) make: `type` = segment, a
 * `conversation` string and an `events` list at the root, each set once, nothing else
 * there (automerge-repo's `create` makes an empty first change; the fields come next).
 * Undefined when `changes` hold no first change (the caller holds them back).
 */
export function segmentGenesis(changes: readonly DecodedChange[]): SegmentState | Violation | undefined {
  if (!changes.some(change => change.deps.length === 0)) return undefined
  let type: string | undefined
  let conversation: string | undefined
  let events: string | undefined
  const set = new Set<string>()
  for (const change of changes) {
    for (const [index, op] of (change.ops as Op[]).entries()) {
      if (op.obj !== '_root') continue
      const field = String(op.key)
      if (!SEGMENT_FIELDS.includes(field)) return forbidden(`a segment has no field ${field}`)
      if (set.has(field)) return forbidden(`segment field ${field} may be set once`)
      set.add(field)
      if (field === 'type' && isStringSet(op)) type = op.value
      else if (field === 'conversation' && isStringSet(op)) conversation = op.value
      else if (field === 'events' && op.action === 'makeList') events = `${change.startOp + index}@${change.actor}`
    }
  }
  if (type !== DocumentTypes.segment || !conversation || !events) return forbidden('not a well-formed segment')
  return { conversation, events, bytes: 0, count: 0 }
}

export const isViolation = (value: unknown): value is Violation => typeof value === 'object' && value !== null && 'code' in value && 'reason' in value

export interface SegmentCheck {
  readonly state: SegmentState
  /** The events the changes append, checked, per change hash (for the event index). */
  readonly events: Map<string, ParleyEvent[]>
}

/**
 * Changes to a segment at `state`: `own` ones (the user's actors) may only append the
 * user's own valid events to `events`; `restored` ones (accepted earlier from someone
 * else, re-sent after a crash) are counted, not checked. The segment stays within
 * `limits.maxSegmentBytes`. A creation change in `own` passes as the document rules'
 * `checkNewSegment` would have it (`creating`: its root fields are `segmentGenesis`'s).
 */
export function checkSegmentLogChanges(
  state: SegmentState,
  own: readonly DecodedChange[],
  restored: readonly DecodedChange[],
  user: string,
  role: Role | undefined,
  limits: Limits,
  /** The changes create the segment: their root ops were read (and checked) by `segmentGenesis`. */
  creating = false,
): SegmentCheck | Violation {
  let { bytes, count } = state
  const events = new Map<string, ParleyEvent[]>()
  for (const [changes, checked] of [[own, true], [restored, false]] as const) {
    for (const change of changes) {
      const appended: ParleyEvent[] = []
      for (const op of change.ops as Op[]) {
        if (op.obj === '_root' && creating) continue
        const isAppend = isStringSet(op) && op.obj === state.events && op.insert === true && op.pred.length === 0
        if (!isAppend) {
          if (!checked) continue
          return forbidden(op.obj === state.events ? 'events are append-only: an existing event was changed or removed' : `segment field ${op.key ?? op.obj} may not be changed`)
        }
        bytes += utf8Length(op.value)
        count++
        if (!checked) {
          const event = readEvent(op.value, limits)
          if (event) appended.push(event)
          continue
        }
        const event = checkEvent(op.value, user, role, limits)
        if ('code' in event) return event
        appended.push(event)
      }
      events.set(change.hash, appended)
    }
  }
  if (bytes > limits.maxSegmentBytes && bytes > state.bytes) {
    return { code: CloseCodes.TOO_LARGE, reason: `a segment holds at most ${limits.maxSegmentBytes} bytes of events (${bytes} with these); start the next segment` }
  }
  return { state: { ...state, bytes, count }, events }
}

/** The state of a segment from all its changes (a log loaded from storage), checking nothing. */
export function foldSegment(changes: readonly DecodedChange[], limits: Limits): { state: SegmentState; events: ParleyEvent[] } | undefined {
  const genesis = segmentGenesis(changes)
  if (!genesis || isViolation(genesis)) return undefined
  const result = checkSegmentLogChanges(genesis, [], changes, '', undefined, limits, true)
  if (isViolation(result)) return undefined
  return { state: result.state, events: changes.flatMap(change => result.events.get(change.hash) ?? []) }
}

/** An entry accepted earlier: parsed for the index; one that does not parse is skipped, as readers do. */
function readEvent(json: string, limits: Limits): ParleyEvent | undefined {
  try {
    return parseEvent(json, limits)
  } catch {
    return undefined
  }
}
