/**
 * The nodes this node currently syncs with, as learned from their heartbeats. A node is
 * one session: its peer ID plus an epoch that it bumps whenever its own link to Redis
 * broke (it may have missed frames then). A new epoch therefore means "start over":
 * the old session ends and a new one begins, and automerge-repo re-syncs every document
 * with it — that is how a gap in the bus is filled.
 */
import type { PeerId, PeerMetadata } from '@automerge/automerge-repo'

export interface PeerSession {
  epoch: number
  meta: PeerMetadata
  lastSeen: number
}

export type HelloOutcome = 'new' | 'restarted' | 'known'

export class PeerTable {
  readonly #peers = new Map<PeerId, PeerSession>()

  get size(): number {
    return this.#peers.size
  }

  has(peerId: PeerId): boolean {
    return this.#peers.has(peerId)
  }

  ids(): PeerId[] {
    return [...this.#peers.keys()]
  }

  /** Records a hello: a peer never seen, a known peer in a new session, or a heartbeat. */
  hello(peerId: PeerId, epoch: number, meta: PeerMetadata, now: number): HelloOutcome {
    const known = this.#peers.get(peerId)
    this.#peers.set(peerId, { epoch, meta, lastSeen: now })
    if (!known) return 'new'
    return known.epoch === epoch ? 'known' : 'restarted'
  }

  /** Any frame from a known peer shows it is alive. */
  seen(peerId: PeerId, now: number): void {
    const session = this.#peers.get(peerId)
    if (session) session.lastSeen = now
  }

  /** Removes a peer (true when it was known). */
  remove(peerId: PeerId, epoch?: number): boolean {
    const session = this.#peers.get(peerId)
    if (!session || (epoch !== undefined && session.epoch !== epoch)) return false
    return this.#peers.delete(peerId)
  }

  /** Removes and returns the peers not heard from since `before`. */
  expire(before: number): PeerId[] {
    const expired = [...this.#peers].filter(([, session]) => session.lastSeen < before).map(([peerId]) => peerId)
    for (const peerId of expired) this.#peers.delete(peerId)
    return expired
  }

  /** Removes and returns every peer. */
  clear(): PeerId[] {
    const all = this.ids()
    this.#peers.clear()
    return all
  }
}
