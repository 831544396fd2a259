/**
 * The port through which the relay core (hub.ts) shares accepted segment changes with
 * the other nodes of a cluster, by interest (issue 16, item 2; docs/cluster.md "Segments
 * over the bus"). The hub says which conversations its peers use (`join`/`leave`, one
 * call per segment that gains its first or loses its last peer here), publishes the
 * changes it accepted, and hears the changes other nodes accepted in the conversations it
 * joined. The Redis implementation is cluster/change-bus.ts.
 *
 * The bus is allowed to lose frames: a node that may have missed something reloads the
 * segment from the shared storage (`listening`: a fresh subscription, or the link back
 * after a drop; a change whose deps are missing: the hub's own gap check). A change is
 * published as soon as it is accepted, before it is stored, so such a reload may come too
 * early for it: it is stored within SETTLE_MS of its frame, or published again once it is
 * (bus-outbox.ts), and a reload that may have come too early is done once more SETTLE_MS
 * later (other-nodes.ts). docs/cluster.md, "Segments over the bus".
 */

/**
 * A published change is stored and numbered within this long of its frame, or its frame
 * is published again once it is (ms). A node that reloaded or read numbers back too early
 * looks again this long after.
 */
export const SETTLE_MS = 250

export interface SegmentBusHandlers {
  /** Changes another node accepted into `segmentId` of `conversationId` (raw change chunks). */
  changes(conversationId: string, segmentId: string, changes: readonly Uint8Array[]): void
  /**
   * From now on this node hears every change published in the conversation: it has just
   * subscribed, or subscribed again after its link dropped. What was published before
   * may be missing here: reload from storage.
   */
  listening(conversationId: string): void
}

export interface SegmentBus {
  /** The hub's handlers (set once, before the first join). */
  attach(handlers: SegmentBusHandlers): void
  /** One more segment of this conversation has a peer here (counted: subscribes on the first). */
  join(conversationId: string): void
  /** One segment fewer (unsubscribes after the last). */
  leave(conversationId: string): void
  /** Does this node hear every change published in the conversation now (subscribed, link up)? */
  hears(conversationId: string): boolean
  /** Changes this node accepted (stored or being stored): to every node listening on the conversation. */
  publish(conversationId: string, segmentId: string, changes: readonly Uint8Array[]): void
  /** A segment reloaded from storage because the bus may have missed something (metrics). */
  refilled?(reason: RefillReason): void
}

/** Why a segment was reloaded from storage: a gap in what the bus brought, a new subscription, a log not heard while idle, another user's change the log lacked. */
export type RefillReason = 'gap' | 'listening' | 'idle' | 'foreign'
