/**
 * The relay core (issue 15): the server keeps each document as a log of raw Automerge
 * changes and serves Automerge's sync protocol from it, with no Automerge document and
 * no per-peer Automerge sync on the hot path. Wired into the server for segments behind
 * the `relayCore` option (`--relay-core`): hub.ts; heads, inboxes and ephemeral messages
 * stay with the automerge-repo Repo for now. In a cluster sharing PostgreSQL, the hubs of
 * the nodes share accepted changes by interest over bus.ts (docs/cluster.md).
 *
 * What each file owns:
 * - change-chunk.ts  reading a change chunk's header (hash, deps, actor, seq), checksum
 *                    checked, without decoding its operations; splitting an entry that
 *                    holds several chunks.
 * - change-log.ts    one document's ChangeLog: raw chunks in a topological order,
 *                    idempotent append by hash, a bounded set of changes waiting for
 *                    their deps, heads, `changesSince(heads)`, `missingDeps`, `concat`
 *                    (the log is a loadable document).
 * - bloom.ts         the sync protocol's Bloom filter, from the format.
 * - sync-message.ts  the sync message's wire format, encoded and decoded in JavaScript
 *                    (same bytes and values as Automerge's), bounded by what a client
 *                    may send; the frame check (network/frames.ts) decodes with it once.
 * - peer-sync.ts     per-peer state; `receive` (a peer's message into the log),
 *                    `generate` (our next message from the log), and the hot path:
 *                    `forwardable` builds one message for newly accepted changes,
 *                    `canForward`/`forwarded` send it as is to every caught-up peer;
 *                    sent-hashes.ts the per-peer set of changes sent and not yet
 *                    confirmed, extended without copying.
 * - hub.ts           the server's use of all this for segments: logs, peer states,
 *                    persistence, eviction and parking; hub-options.ts what it is given
 *                    (stores, bounds, hooks); segment.ts a held segment, its whole-log
 *                    check and which segments the sweep unloads or parks;
 *                    segment-ingress.ts checks a message's changes
 *                    (access/segment-log-rules.ts), server-change.ts builds the server's
 *                    own (HTTP publish) on a kept document.
 * - bus.ts           the port to the other nodes of a cluster (cluster/change-bus.ts on
 *                    Redis): join/leave a conversation as its segments gain their first
 *                    or lose their last peer here, publish what was accepted here (before
 *                    its storage write), hear what others accepted; other-nodes.ts reloads a
 *                    segment from the shared storage on a gap or a (re)subscription.
 * - bus-outbox.ts    what this node accepted, published at once, and again if its write
 *                    and numbering took SETTLE_MS or longer.
 * - other-nodes.ts   what other nodes accepted, taken into the segments held here: heard
 *                    over the bus, or read back from the shared storage (a gap, a new
 *                    subscription); changes heard but not yet stored, stored before a new
 *                    peer takes the heads for an acknowledgement.
 * - late-refills.ts  reloads done once more SETTLE_MS later, when they may have come
 *                    before a change published elsewhere was stored.
 * - log-storage.ts   persistence through automerge-repo's StorageAdapterInterface in
 *                    its own key layout (incrementals, snapshots), batched; loading a
 *                    document written by today's server into a log; compaction.
 *
 * A server's use, per inbound sync message from peer P on a document:
 *   const before = log.heads()
 *   const message = decodeSyncMessage(bytes)          // once; checks read this value
 *   const { state, appended } = receive(log, peers.get(P), message)
 *   if (appended.accepted.length) {
 *     storage.store(appended.accepted)     // acknowledged to P once stored
 *     const forward = forwardable(log, appended.accepted, before)
 *     for (const [Q, s] of peers) if (Q !== P)
 *       canForward(s, forward) ? (send(Q, forward.message), peers.set(Q, forwarded(s, forward)))
 *                              : sendIfAny(Q, generate(log, s))
 *   }
 *   sendIfAny(P, generate(log, state))                // P's acknowledgement
 */
export { BloomFilter } from './bloom.ts'
export { ChangeChunkError, parseChangeChunk, splitChunks, type ChangeMeta } from './change-chunk.ts'
export { ChangeLog, type AppendResult, type ChangeLogOptions, type LoggedChange } from './change-log.ts'
export {
  canForward,
  createPeerState,
  decodeSyncMessage,
  encodeSyncMessage,
  forwardable,
  forwarded,
  generate,
  receive,
  sameHeads,
  type Forward,
  type Have,
  type PeerState,
  type SyncMessage,
} from './peer-sync.ts'
export { headsHash, keyHash, LogStorage, type LogStorageOptions } from './log-storage.ts'
