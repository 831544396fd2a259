/**
 * Automerge's sync protocol, served from a ChangeLog instead of a document.
 *
 * Per peer a small immutable PeerState; `receive` takes their message into the log and
 * the state, `generate` builds our next message for them (or null) from the log, encoded
 * in JavaScript (sync-message.ts). The rules follow Automerge's own sync
 * (shared heads, their heads/need/have, sent hashes, in flight), so unmodified clients
 * running `generateSyncMessage`/`receiveSyncMessage` converge with it.
 *
 * The hot path skips `generate`: a change accepted from one peer is sent as bytes, in one
 * message built once (`forwardable`), to every peer `canForward` accepts: those we have
 * brought up to our previous heads (`caughtUp`) and told so. The origin gets `generate`
 * (an acknowledgement of its change); a peer that cannot take the forward gets `generate`.
 */
import { ParleyError } from '@parley/core'
import { BloomFilter } from './bloom.ts'
import type { ChangeMeta } from './change-chunk.ts'
import type { AppendResult, ChangeLog, LoggedChange } from './change-log.ts'
import { SentHashes } from './sent-hashes.ts'
import { decodeSyncMessage as decodeWire, encodeSyncMessage as encodeWire, SyncMessageError, type DecodedSyncMessage } from './sync-message.ts'
import { ServerErrorCodes } from '../errors.ts'

export interface Have {
  readonly lastSync: readonly string[]
  readonly bloom: BloomFilter
}

/** One decoded inbound sync message; decode once, then hand it to checks and `receive`. */
export interface SyncMessage {
  readonly heads: readonly string[]
  readonly need: readonly string[]
  readonly have: readonly Have[]
  readonly changes: readonly Uint8Array[]
}

export interface PeerState {
  /** Heads we believe we both have. */
  readonly sharedHeads: readonly string[]
  /** Our heads as of the last message we sent them. */
  readonly lastSentHeads: readonly string[]
  readonly theirHeads: readonly string[] | null
  readonly theirNeed: readonly string[] | null
  readonly theirHave: readonly Have[] | null
  /** Changes sent to them that they have not confirmed. */
  readonly sentHashes: SentHashes
  readonly inFlight: boolean
  readonly haveResponded: boolean
  /** Once our messages in flight arrive, they hold everything up to lastSentHeads. */
  readonly caughtUp: boolean
}

const EMPTY: readonly string[] = Object.freeze([])
const NO_CHANGES: AppendResult = Object.freeze({ accepted: [], pending: [], rejected: [], dropped: [] })

/** A new peer; `sharedHeads` from a persisted earlier session makes catch-up cheaper. */
export function createPeerState(sharedHeads: readonly string[] = EMPTY): PeerState {
  return {
    sharedHeads: [...sharedHeads].sort(),
    lastSentHeads: EMPTY,
    theirHeads: null,
    theirNeed: null,
    theirHave: null,
    sentHashes: SentHashes.EMPTY,
    inFlight: false,
    haveResponded: false,
    caughtUp: false,
  }
}

/**
 * Decodes a sync message from a peer; throws PARLEY_ERR_BAD_REQUEST on bytes that are not
 * one, or list more than a client may send (sync-message.ts INBOUND_LIMITS). `decode`: the
 * wire decoding, or one that returns what an earlier check already decoded (the server's
 * frame check, network/frames.ts decodeSyncData), so a message is decoded once.
 */
export function decodeSyncMessage(bytes: Uint8Array, decode: (bytes: Uint8Array) => DecodedSyncMessage = decodeWire): SyncMessage {
  try {
    const decoded = decode(bytes)
    return {
      heads: decoded.heads.length > 1 ? [...decoded.heads].sort() : decoded.heads,
      need: decoded.need,
      have: decoded.have.map(have => ({ lastSync: have.lastSync, bloom: BloomFilter.decode(have.bloom) })),
      changes: decoded.changes,
    }
  } catch (cause) {
    const reason = cause instanceof SyncMessageError ? cause.message : `not an Automerge sync message: ${(cause as Error).message}`
    throw new ParleyError(ServerErrorCodes.BAD_REQUEST, reason, { cause })
  }
}

export function encodeSyncMessage(message: SyncMessage): Uint8Array {
  return encodeWire({
    heads: message.heads,
    need: message.need,
    have: message.have.map(have => ({ lastSync: have.lastSync, bloom: have.bloom.encode() })),
    changes: message.changes,
  })
}

/**
 * Takes a peer's message: appends its changes to the log (`appended.accepted` are the
 * new ones, to persist and pass on) and returns the peer's updated state. `known`: the
 * changes' headers, if read already (ChangeLog append).
 */
export function receive(log: ChangeLog, state: PeerState, input: Uint8Array | SyncMessage, known?: ReadonlyMap<Uint8Array, ChangeMeta>): { state: PeerState; appended: AppendResult } {
  const message = input instanceof Uint8Array ? decodeSyncMessage(input) : input
  const beforeHeads = log.heads()
  const appended = message.changes.length > 0 ? log.append(message.changes, known) : NO_CHANGES
  let sharedHeads = state.sharedHeads
  if (appended.accepted.length > 0) sharedHeads = advanceHeads(beforeHeads, log.heads(), sharedHeads)
  let lastSentHeads = state.lastSentHeads
  if (message.changes.length === 0 && sameHeads(message.heads, beforeHeads)) lastSentHeads = message.heads
  let sentHashes = state.sentHashes
  let caughtUp = false
  const allKnown = message.heads.every(head => log.hasHash(head))
  if (allKnown) {
    sharedHeads = message.heads
    if (sentHashes.size === 0) {
      caughtUp = message.need.length === 0 && sameHeads(message.heads, log.heads())
    } else {
      // Keep only what they have not confirmed; they are caught up if the rest is on its way.
      const lacking = log.changesSince(message.heads)
      sentHashes = SentHashes.of(lacking.filter(change => state.sentHashes.has(change.hash)).map(change => change.hash))
      caughtUp = message.need.length === 0 && sentHashes.size === lacking.length
    }
    if (message.heads.length === 0) {
      // They have lost all their data: start over.
      lastSentHeads = EMPTY
      sentHashes = SentHashes.EMPTY
      caughtUp = false
    }
  } else {
    sharedHeads = [...new Set([...sharedHeads, ...message.heads.filter(head => log.hasHash(head))])].sort()
  }
  // Their message answers ours, so nothing is in flight (as Automerge's receive has it), but
  // for one thing: an answer written before our latest messages reached them (clients hold
  // acknowledgements briefly: clients/sdk/src/network/acknowledgements.ts). When everything
  // they lack is on its way, those messages carry our heads and they will answer them;
  // saying our heads again now would only draw another answer. Not so when they hold a
  // change we lack (one their message left out because our Bloom filter falsely seemed to
  // hold it: not caught up then): our next message must ask for it.
  const inFlight = caughtUp && sentHashes.size > 0
  return {
    appended,
    state: {
      sharedHeads,
      lastSentHeads,
      theirHeads: message.heads,
      theirNeed: message.need,
      theirHave: message.have,
      sentHashes,
      inFlight,
      haveResponded: state.haveResponded,
      caughtUp,
    },
  }
}

/** Our next message for the peer, or null when there is nothing to say. */
export function generate(log: ChangeLog, state: PeerState): { state: PeerState; message: Uint8Array | null } {
  const ourHeads = log.heads()
  const firstHave = state.theirHave?.[0]
  if (firstHave && !firstHave.lastSync.every(hash => log.hasHash(hash))) {
    // They think we share heads we do not have (we lost data, or they confuse us with
    // someone else): ask them to start over from nothing.
    const reset = { heads: ourHeads, need: EMPTY, have: [{ lastSync: EMPTY, bloom: BloomFilter.fromHashes([]) }], changes: [] }
    return { state: { ...state, caughtUp: false }, message: encodeSyncMessage(reset) }
  }
  const headsUnchanged = sameHeads(state.lastSentHeads, ourHeads)
  const headsEqual = state.theirHeads !== null && sameHeads(state.theirHeads, ourHeads)
  if (headsUnchanged && headsEqual && state.haveResponded && state.theirHave !== null && state.theirNeed?.length === 0) {
    // In sync, asking for nothing (every acknowledgement): nothing to say. A peer holding our
    // heads has every change since any lastSync of its `have`, so there is nothing to send.
    return { state: state.caughtUp ? state : { ...state, caughtUp: true }, message: null }
  }
  // Told our heads already and waiting for their answer: nothing more unless they lack changes
  // (checked only where it decides; a peer far behind lacks many, and this runs on each of
  // its acknowledgements).
  const waiting = headsUnchanged && state.haveResponded
  if (waiting && state.inFlight && !headsEqual) return { state, message: null }
  const theirHeads = state.theirHeads ?? EMPTY
  const toSend = state.theirHave && state.theirNeed ? changesToSend(log, theirHeads, state.theirHave, state.theirNeed, state.sentHashes) : []
  // With their have and need we sent all they lack; a bare need (have empty) may not cover it.
  const caughtUp = state.theirHave !== null && state.theirNeed !== null && (state.theirHave.length > 0 || headsEqual)
  if (waiting) {
    if (headsEqual && toSend.length === 0) return { state: { ...state, caughtUp }, message: null }
    if (state.inFlight) return { state, message: null }
  }
  const ourNeed = log.missingDeps(theirHeads)
  const theirHeadSet = new Set(theirHeads)
  const have = ourNeed.every(hash => theirHeadSet.has(hash)) ? [haveSince(log, state.sharedHeads)] : []
  const sentHashes = state.sentHashes.with(toSend.map(change => change.hash))
  const message = encodeSyncMessage({ heads: ourHeads, need: ourNeed, have, changes: toSend.map(change => change.bytes) })
  return {
    state: { ...state, lastSentHeads: ourHeads, sentHashes, inFlight: true, haveResponded: true, caughtUp },
    message,
  }
}

/**
 * Our next message for the peer even where `generate` has nothing to say: one answer to
 * messages of theirs whose answers waited (segment-peers.ts `acknowledgeAfter`). It says our heads, so a peer
 * whose follow-up at those heads was taken as answered (`receive`) learns we hold them.
 */
export function answer(log: ChangeLog, state: PeerState): { state: PeerState; message: Uint8Array | null } {
  return generate(log, { ...state, lastSentHeads: EMPTY })
}

/** One message carrying newly accepted changes, shared by every peer that can take it. */
export interface Forward {
  readonly message: Uint8Array
  /** The log's heads before and after the changes. */
  readonly previousHeads: readonly string[]
  readonly heads: readonly string[]
  readonly hashes: readonly string[]
}

/**
 * Builds the forward of `accepted` (an append's accepted changes, on top of
 * `previousHeads`, the log's heads before that append). Its `have` says we hold exactly
 * these changes since previousHeads, so a peer with concurrent changes of its own answers
 * with them at once.
 */
export function forwardable(log: ChangeLog, accepted: readonly LoggedChange[], previousHeads: readonly string[]): Forward {
  const hashes = accepted.map(change => change.hash)
  const heads = log.heads()
  const message = encodeSyncMessage({
    heads,
    need: log.missingDeps(),
    have: [{ lastSync: previousHeads, bloom: BloomFilter.fromHashes(hashes) }],
    changes: accepted.map(change => change.bytes),
  })
  return { message, previousHeads, heads, hashes }
}

/** True when the peer may take `forward` instead of a generated message. */
export function canForward(state: PeerState, forward: Forward): boolean {
  return state.caughtUp && sameHeads(state.lastSentHeads, forward.previousHeads)
}

/** The peer's state once `forward` is sent to it. */
export function forwarded(state: PeerState, forward: Forward): PeerState {
  return { ...state, lastSentHeads: forward.heads, sentHashes: state.sentHashes.with(forward.hashes), inFlight: true, haveResponded: true }
}

/** The `have` entry for a peer: our changes since the heads we share, as a Bloom filter. */
function haveSince(log: ChangeLog, sharedHeads: readonly string[]): Have {
  return { lastSync: sharedHeads, bloom: BloomFilter.fromHashes(log.changesSince(sharedHeads).map(change => change.hash)) }
}

/**
 * What a peer lacks given its heads, have and need, after the ones it asked for. A change
 * already sent is left out unless they ask for it by hash (a lost message heals).
 *
 * A peer holds every change its heads depend on, so when we know all its heads it lacks
 * exactly our changes since them. Only otherwise (heads of changes we lack) does it take
 * Automerge's way: our changes since its lastSync that no filter contains, plus everything
 * depending on them. Automerge takes that way always, and so resends whatever lies between
 * a peer's lastSync and its heads, once its sent hashes forget them: a member that fell
 * behind in the hot-conversation benchmark was resent hundreds of changes it held, per
 * message, and fell further behind (benchmarks/src/hot-conversation/replay.ts).
 */
function changesToSend(log: ChangeLog, theirHeads: readonly string[], have: readonly Have[], need: readonly string[], sent: SentHashes): LoggedChange[] {
  const needed: LoggedChange[] = []
  for (const hash of need) {
    const change = log.get(hash)
    if (change) needed.push(change)
  }
  if (have.length === 0) return needed
  const neededHashes = new Set(needed.map(change => change.hash))
  const wanted = (change: LoggedChange) => !neededHashes.has(change.hash) && !sent.has(change.hash)
  if (theirHeads.every(head => log.hasHash(head))) return [...needed, ...log.changesSince(theirHeads).filter(wanted)]
  const lastSync = [...new Set(have.flatMap(entry => entry.lastSync))]
  const since = log.changesSince(lastSync)
  const chosen = new Set<string>()
  // In log order deps come first, so one pass also takes everything depending on a chosen change.
  for (const change of since) {
    if (have.every(entry => !entry.bloom.contains(change.hash)) || change.deps.some(dep => chosen.has(dep))) chosen.add(change.hash)
  }
  return [...needed, ...since.filter(change => chosen.has(change.hash) && wanted(change))]
}

/** Automerge's advance_heads: our new heads plus the shared heads still among our heads. */
function advanceHeads(before: readonly string[], after: readonly string[], shared: readonly string[]): string[] {
  const beforeSet = new Set(before)
  const afterSet = new Set(after)
  const advanced = new Set([...after.filter(head => !beforeSet.has(head)), ...shared.filter(head => afterSet.has(head))])
  return [...advanced].sort()
}

/**
 * Heads are kept sorted everywhere here (the log's, and a peer's as decoded), so equal
 * sets are equal arrays; the log hands out one array per state, so the hot path's
 * comparison is usually a reference check.
 */
export function sameHeads(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
