/** What the relay hub (hub.ts) is given: its stores, its peers' outlet, its bounds, and the hooks the event index, webhooks and metrics hang off. */
import type { Message, PeerId, StorageAdapterInterface } from '@automerge/automerge-repo'
import type { Limits, ParleyEvent } from '@parley/core'
import type { FastifyBaseLogger } from 'fastify'
import type { AccessRegistry } from '../access/registry.ts'
import type { EventIdLookups } from '../events/event-ids.ts'
import type { SegmentBus } from './bus.ts'

/** Extension points: the event index, webhooks and metrics hang off these. */
export interface RelayHooks {
  /** A segment's log loaded (or created): all its events, for numbering. */
  loaded?(conversationId: string, segmentId: string, events: ParleyEvent[]): void
  /**
   * Changes accepted into a segment from a client: the events they append. With a bus,
   * the changes are published at once, and again if the returned promise (the events
   * numbered) or their write settles late (bus-outbox.ts).
   */
  accepted?(conversationId: string, segmentId: string, events: ParleyEvent[]): void | Promise<unknown>
  /**
   * Changes another node accepted, read back from the shared storage (a gap, a new
   * subscription: hub.ts #refill): the events they append, which that node may not have
   * numbered (it stored them, then failed). Not called for changes heard over the bus:
   * their node numbers them (bus-outbox.ts).
   */
  reloaded?(conversationId: string, segmentId: string, events: ParleyEvent[]): void
}

export interface RelayHubOptions {
  readonly storage: StorageAdapterInterface
  readonly registry: AccessRegistry
  readonly limits: Limits
  /** The server sequence, for event-ID shadowing (events/event-ids.ts); none: not checked. */
  readonly index?: EventIdLookups
  /** Sends to a connected peer (the network adapter's `send`, which checks who may read). */
  readonly send: (message: Message) => void
  /** The server's peer ID, the sender of what the hub sends. */
  readonly peerId: () => PeerId
  /** A log with no peer, unused this long, is written out and unloaded (0: only the cap). */
  readonly idleMs: number
  /** Loaded logs beyond which idle ones are unloaded, least recently used first. */
  readonly maxLoaded: number
  readonly hooks: RelayHooks
  readonly log: FastifyBaseLogger
  /** In a cluster sharing storage: other nodes' changes to the segments used here (bus.ts). */
  readonly bus?: SegmentBus
  /** The bus's SETTLE_MS, shorter in tests (ms). */
  readonly settleMs?: number
}
