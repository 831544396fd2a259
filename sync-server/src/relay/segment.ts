/**
 * A segment as the relay hub (hub.ts) holds it, the whole-log check it starts from, and
 * which loaded segments its sweep unloads: idle ones (no peer here, unused for idleMs)
 * and, past maxLoaded, the least recently used idle ones; if that is not enough, the least
 * recently used ones with peers are parked (only their peers' sync states kept), so memory
 * follows maxLoaded, not the segments open on connected devices.
 */
import { next as A } from '@automerge/automerge'
import type { PeerId } from '@automerge/automerge-repo'
import type { Limits, ParleyEvent } from '@parley/core'
import { foldSegment, type SegmentState } from '../access/segment-log-rules.ts'
import type { ChangeLog } from './change-log.ts'
import type { PeerState } from './peer-sync.ts'

export interface Segment {
  readonly id: string
  readonly log: ChangeLog
  state: SegmentState | null
  readonly peers: Map<PeerId, PeerState>
  /** Events of checked changes still waiting for their deps, by hash. */
  readonly waiting: Map<string, ParleyEvent[]>
  /** Authors of the newest events by ID, which the index may not have numbered yet (segment-ingress.ts rememberAuthors). */
  readonly recent: Map<string, string>
  used: number
  /** Its conversation, once known (from its first change, or the registry). */
  conversation: string | undefined
  /** The conversation this segment counts in on the bus (it has peers here). */
  joined: string | undefined
  /** Messages for one segment are handled one after another. */
  tail: Promise<unknown>
  /**
   * Per peer, how many of their messages wait for their writes before their
   * acknowledgement: nothing is sent to them on this segment meanwhile, and one message
   * built when the last is done answers them all (segment-peers.ts).
   */
  readonly acknowledging: Map<PeerId, number>
  /**
   * Hashes of changes heard over the bus and not yet seen in storage: their node publishes
   * before it stores (bus-outbox.ts). Compared with storage before a new peer hears this
   * log's heads (other-nodes.ts `confirm`).
   */
  readonly unconfirmed: Set<string>
}

/** Runs `task` after the segment's earlier tasks: messages and reloads for one segment are handled one after another. */
export function serially<T>(segment: Segment, task: () => Promise<T>): Promise<T> {
  const run = segment.tail.then(task)
  segment.tail = run.catch(() => undefined)
  return run
}

/** A whole log checked from its first change: the segment's state and every event (access/segment-log-rules.ts). */
export const foldLog = (log: ChangeLog, limits: Limits) => foldSegment(log.changes().map(change => A.decodeChange(change.bytes)), limits)

/** The segments to unload now, least recently used first; `park`: it still has peers here. */
export function toUnload(loaded: readonly Segment[], loadedCount: number, now: number, bounds: { maxLoaded: number; idleMs: number }): { segment: Segment; park: boolean }[] {
  const byUse = [...loaded].sort((a, b) => a.used - b.used)
  const chosen: { segment: Segment; park: boolean }[] = []
  let excess = bounds.maxLoaded > 0 ? loadedCount - bounds.maxLoaded : 0
  for (const segment of byUse) {
    if (segment.peers.size > 0) continue
    const expired = bounds.idleMs > 0 && now - segment.used >= bounds.idleMs
    if (!expired && excess <= 0) break
    excess--
    chosen.push({ segment, park: false })
  }
  for (const segment of byUse) {
    if (excess <= 0) break
    if (segment.peers.size === 0 || segment.waiting.size > 0 || segment.acknowledging.size > 0) continue
    excess--
    chosen.push({ segment, park: true })
  }
  return chosen
}
