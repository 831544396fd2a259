/**
 * The server's automerge-repo network adapter: one authenticated WebSocket per client,
 * automerge-repo's wire protocol (CBOR frames, `join` → `peer`). Unlike the stock
 * adapter, every frame is checked before the repo sees it, and the peer ID a client
 * announces is scoped to the user its token names (`userPeerId`): the repo knows
 * `@alice/laptop`, never a bare `laptop` that another user could claim first.
 */
import { NetworkAdapter, type DocumentId, type Message, type PeerId, type PeerMetadata } from '@automerge/automerge-repo'
import type { FastifyBaseLogger } from 'fastify'
import type { RawData, WebSocket } from 'ws'
import type { ChargeWork } from '../access/chunks.ts'
import type { Verdict } from '../access/guard.ts'
import type { Violation } from '../access/rules.ts'
import { CloseCodes } from '../close-codes.ts'
import type { AdapterMetrics } from '../metrics/metrics.ts'
import { FrameEncoder } from './frame-encoder.ts'
import { decodeFrame, decodeSyncData, HEADS_REPLY } from './frames.ts'
import { RelayDelays } from './relay-delays.ts'
import { UserRates, workTokens } from './rate-limit.ts'
import { timerAt } from '../timer-at.ts'

const PROTOCOL_V1 = '1'
/** Every server's repo peer ID starts so (server.ts); clients may not announce one. */
export const SERVER_PEER_PREFIX = 'parley-server-'
/**
 * The peer ID the repo knows a client by: its user (URI-encoded, so it holds no `/`) and
 * the peer ID the client announced. Injective, so no user can take another's, and never
 * a server's (those start with SERVER_PEER_PREFIX, these with `@`). Peer IDs are visible
 * to other members (relayed ephemeral messages): a bare one, bound to whoever claimed it
 * first, let one user lock another out by joining under it (docs/security.md).
 */
export function userPeerId(user: string, peerId: string): PeerId {
  return `@${encodeURIComponent(user)}/${peerId}` as PeerId
}

/** Messages waiting for inspection per connection; a client that outruns the checks is rate limited. */
const MAX_QUEUED = 1000
/**
 * Backpressure before that: past PAUSE_QUEUED waiting inspections the socket is no longer
 * read (TCP holds the client back) until the queue is down to RESUME_QUEUED. A client
 * catching up after a server restart sends a burst; it is slowed, not closed.
 */
const PAUSE_QUEUED = 200
const RESUME_QUEUED = 50
/** How long a closing socket that stopped reading may hold its buffer before it is cut. */
const CLOSE_GRACE_MS = 1000
/** RFC 6455 "internal error": the server could not check a message (docs/errors.md). */
const INTERNAL_ERROR_CLOSE = 1011
/** Close code ws reports for a connection that ended without a close frame (terminated). */
const ABNORMAL_CLOSURE = 1006

export interface Connection {
  readonly socket: WebSocket
  readonly user: string
  readonly log: FastifyBaseLogger
  /** The peer ID the client announced in `join`: the one its frames carry. */
  peerId?: PeerId
  /** The same, scoped to the user (`userPeerId`): the one the repo knows. */
  repoPeerId?: PeerId
  alive: boolean
  /** Messages are inspected one at a time, in the order they arrived. */
  inbound: Promise<void>
  /** Messages waiting to be inspected, or relayed and waiting for their acknowledgement. */
  queued: number
  expiry?: { cancel(): void }
}

export interface ServerAdapterOptions {
  /** Largest frame accepted; larger ones close the connection with 4413. */
  maxFrameBytes: number
  /** How often to ping; a socket that missed the previous pong is terminated. */
  keepAliveMs: number
  /**
   * Tokens per second a user's bucket refills, shared by all their connections, and how
   * many it holds (close 4429 beyond): one per message, plus the decoding work of a sync
   * message's changes (rate-limit.ts `workTokens`), charged by the check before it decodes.
   */
  rate: { perSecond: number; burst: number }
  /** Bytes a connection may have waiting to be sent before it counts as not reading (close 4408). */
  maxBufferedBytes: number
  /** Checks a message before the repo sees it, charging its decoding work to `charge`; a violation closes the connection. */
  inspect: (message: Message, connection: Connection, charge: ChargeWork) => Promise<Verdict>
  /** May this user receive messages about this document? Synchronous: asked on every send. */
  mayReceive: (user: string, documentId: string) => boolean
  /** The server's current heads of each document, null where it holds none (or the user may not read it). */
  headsOf: (documentIds: string[], connection: Connection) => Promise<Record<string, string[] | null>>
  /** Told about connections, frames and relays, for the server's metrics. */
  metrics?: AdapterMetrics
  /** Takes `sync` and `request` messages for the documents it serves (the relay core, relay/hub.ts); the rest go to the repo. */
  relay?: RelayRoute
  /** Told when a user's first connection opens and their last one closes (cluster/presence.ts). */
  presence?: { connected(user: string): void; disconnected(user: string): void }
}

/** What the adapter needs of the relay core (relay/hub.ts RelayHub). */
export interface RelayRoute {
  /** `data`: the message's sync data, for a document the server has not registered; `charge` pays for decoding it. */
  serves(documentId: string, data: Uint8Array, charge: ChargeWork): boolean | Promise<boolean>
  /**
   * Checks, relays and answers a message; a violation closes the connection. `arrived` is
   * called when it carries new changes; `charge` is charged their decoding work before they
   * are decoded. Settles once relayed; the sender's acknowledgement may follow (`Acknowledging`).
   */
  relay(message: Message & { documentId: DocumentId; data: Uint8Array }, user: string, peer: PeerId, arrived: () => void, charge: ChargeWork): Promise<Violation | undefined | Acknowledging>
}

/** A relayed message whose sender is acknowledged once its writes are done (its changes stored): settles with a violation or none. */
export interface Acknowledging {
  readonly acknowledged: Promise<Violation | undefined>
}

/** A `sync` or `request` message: what the relay core takes (frames.ts checked its fields). */
function isDocumentSync(message: Message): message is Message & { documentId: DocumentId; data: Uint8Array } {
  return (message.type === 'sync' || message.type === 'request') && typeof message.documentId === 'string' && message.data instanceof Uint8Array
}

/**
 * A sync message saying the server holds none of the document (no heads, no changes): it
 * shows a peer nothing but that, which a peer may learn anyway by trying to create the
 * document. A client creating a conversation sends the change-less first messages of its
 * head and first segment together, and the repo asks for the segment's changes; if the
 * registry did not let the creator read the segment at that moment (until 2026-12-06 the
 * head's check reserved it before registering the head's members: access/guard.ts), the
 * answer became doc-unavailable and the client never sent the segment (`sync()` timed out).
 */
function holdsNothing(message: Message): boolean {
  if (message.type !== 'sync' || !(message.data instanceof Uint8Array)) return false
  try {
    const { heads, changes } = decodeSyncData(message.data)
    return heads.length === 0 && changes.length === 0
  } catch {
    return false // not a sync message we can read: it shows something, for all we know
  }
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data)
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data
}

export class ParleyServerAdapter extends NetworkAdapter {
  readonly #options: ServerAdapterOptions
  readonly #connections = new Set<Connection>()
  /**
   * Open connections per user: asked for every member of a conversation on every message
   * (who is offline, for webhooks and pushes), so counted as connections come and go, not
   * by walking every connection (a 1,000-member group walked a million per message).
   */
  readonly #perUser = new Map<string, number>()
  /** The connection holding each user-scoped peer ID (`userPeerId`). */
  readonly #byPeer = new Map<PeerId, Connection>()
  readonly #connected: Promise<void>
  #resolveConnected!: () => void
  #keepAlive: ReturnType<typeof setInterval> | undefined
  /** The delivery-latency metric (with metrics only). */
  readonly #delays: RelayDelays | undefined
  readonly #rates: UserRates
  /** Every outbound frame's encoding; one change forwarded to many peers is encoded once (frame-encoder.ts). */
  readonly #frames = new FrameEncoder()

  constructor(options: ServerAdapterOptions) {
    super()
    this.#options = options
    this.#rates = new UserRates(options.rate.perSecond, options.rate.burst)
    this.#delays = options.metrics && new RelayDelays(options.metrics)
    this.#connected = new Promise(resolve => (this.#resolveConnected = resolve))
  }

  /** Resolves once the repo has given this adapter its peer ID: joins can be answered. */
  whenConnected(): Promise<void> {
    return this.#connected
  }

  isReady(): boolean {
    return true
  }

  whenReady(): Promise<void> {
    return Promise.resolve()
  }

  connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
    this.peerId = peerId
    this.peerMetadata = peerMetadata ?? {}
    this.#keepAlive = setInterval(() => this.#checkAlive(), this.#options.keepAliveMs)
    this.#keepAlive.unref()
    this.#resolveConnected()
  }

  get connectionCount(): number {
    return this.#connections.size
  }

  /** The user of a connected client, by the (user-scoped) peer ID the repo knows it by. */
  userOfPeer(peerId: PeerId): string | undefined {
    return this.#byPeer.get(peerId)?.user
  }

  /** Milliseconds until `user`, recently rate limited, may connect again (0: now). */
  retryAfterMs(user: string): number {
    return this.#rates.retryAfterMs(user)
  }

  /** The per-user message budget; HTTP writes draw from the same buckets (http/routes.ts). */
  get rates(): UserRates {
    return this.#rates
  }

  connectionsOf(user: string): number {
    return this.#perUser.get(user) ?? 0
  }

  /** The users with a connection open. */
  users(): Iterable<string> {
    return this.#perUser.keys()
  }

  /** Takes over an upgraded, authenticated socket; it is closed with 4401 when the token expires. */
  accept(socket: WebSocket, identity: { user: string; expiresAt?: number }, log: FastifyBaseLogger): void {
    const connection: Connection = { socket, user: identity.user, log, alive: true, inbound: Promise.resolve(), queued: 0 }
    if (identity.expiresAt !== undefined) {
      // At exp, however far ahead (one setTimeout reaches ~24.8 days; timerAt re-arms).
      connection.expiry = timerAt(identity.expiresAt, () => this.close(connection, CloseCodes.UNAUTHENTICATED, 'token expired'))
    }
    this.#connections.add(connection)
    const count = this.connectionsOf(connection.user) + 1
    this.#perUser.set(connection.user, count)
    if (count === 1) this.#options.presence?.connected(connection.user)
    this.#options.metrics?.connectionOpened(connection.user)
    socket.on('message', data => this.#receive(connection, toBytes(data)))
    socket.on('pong', () => (connection.alive = true))
    socket.on('error', error => log.warn({ err: error }, 'socket error'))
    socket.on('close', code => this.#forget(connection, code))
  }

  send(message: Message): void {
    const connection = this.#byPeer.get(message.targetId)
    // A peer that left: the sync protocol catches it up when it rejoins.
    if (!connection || connection.socket.readyState !== connection.socket.OPEN) return
    // Nothing about a document reaches a user who may not read it (any more): membership
    // changes take effect here at once, ephemeral messages included. A sync message (an
    // answer the peer may be waiting for) becomes doc-unavailable, what a peer that may not
    // read a document is told when it asks (access/guard.ts): dropped, its sync waited forever.
    // But for one that shows nothing (holdsNothing): the server has none of the document, so
    // the peer, which may be creating it, is asked for its changes instead.
    const documentId = (message as { documentId?: string }).documentId
    if (documentId !== undefined && message.type !== 'doc-unavailable' && !this.#options.mayReceive(connection.user, documentId) && !holdsNothing(message)) {
      if (message.type === 'sync') this.#transmit(connection, { type: 'doc-unavailable', senderId: this.peerId, targetId: connection.peerId, documentId })
      return
    }
    // Addressed to the peer ID the client knows itself by.
    if (this.#transmit(connection, { ...message, targetId: connection.peerId }) && message.type === 'sync' && documentId !== undefined) this.#delays?.relayed(documentId, message.targetId)
  }

  disconnect(): void {
    clearInterval(this.#keepAlive)
    for (const connection of this.#connections) connection.socket.close(1001, 'server shutting down')
  }

  close(connection: Connection, code: number, reason: string): void {
    if (!this.#connections.has(connection)) return
    connection.log.warn({ code, reason }, 'closing connection')
    this.#forget(connection, code)
    const { socket } = connection
    socket.close(code, reason.slice(0, 120))
    // A client that stopped reading never answers the close: cut it so its buffer is freed.
    setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref()
  }

  #receive(connection: Connection, bytes: Uint8Array): void {
    if (!this.#connections.has(connection)) return
    this.#options.metrics?.messageIn(bytes.byteLength)
    if (!this.#rates.take(connection.user) || connection.queued >= MAX_QUEUED) {
      return this.close(connection, CloseCodes.RATE_LIMITED, `more than ${this.#options.rate.perSecond} messages per second from this user`)
    }
    if (bytes.byteLength > this.#options.maxFrameBytes) {
      return this.close(connection, CloseCodes.TOO_LARGE, `frame of ${bytes.byteLength} bytes exceeds ${this.#options.maxFrameBytes}`)
    }
    const result = decodeFrame(bytes)
    if (!result.ok) return this.close(connection, CloseCodes.MALFORMED, result.reason)
    const { frame } = result
    if (frame.kind === 'join') return this.#join(connection, frame.senderId as PeerId, frame.peerMetadata, frame.supportedProtocolVersions)

    if (!connection.peerId) return this.close(connection, CloseCodes.MALFORMED, 'join first')
    if (frame.kind === 'heads-request') {
      if (frame.senderId !== connection.peerId) return this.close(connection, CloseCodes.MALFORMED, 'senderId differs from the joined peer ID')
      // Answered in turn after everything the client sent before it, so a client that gets
      // the reply knows which server state it must reach: a barrier for `client.sync()`.
      return this.#inOrder(connection, async () => {
        const heads = await this.#options.headsOf(frame.documentIds, connection)
        this.#transmit(connection, { type: HEADS_REPLY, senderId: this.peerId, targetId: connection.peerId, requestId: frame.requestId, heads })
      })
    }
    const { message } = frame
    if (message.senderId !== connection.peerId) {
      // automerge-repo clients pass on ephemeral messages they received (typing, presence)
      // to their other peers, us included, under the original sender's ID. We already
      // relayed the original: drop the copy rather than punish the relaying client.
      if (message.type === 'ephemeral') return
      return this.close(connection, CloseCodes.MALFORMED, 'senderId differs from the joined peer ID')
    }
    if (message.targetId !== this.peerId) return this.close(connection, CloseCodes.MALFORMED, 'targetId is not this server')
    const receivedAt = performance.now()
    const scoped = { ...message, senderId: connection.repoPeerId! }
    this.#inOrder(connection, () => this.#deliver(connection, scoped, receivedAt))
  }

  /** Runs `task` after everything queued before it on this connection (skipped once the connection is gone). */
  #inOrder(connection: Connection, task: () => Promise<void>): void {
    this.#hold(connection)
    connection.inbound = connection.inbound.then(() => {
      this.#release(connection)
      return this.#connections.has(connection) ? task() : undefined
    })
  }

  /** One more message waiting on this connection: past PAUSE_QUEUED, its socket is no longer read. */
  #hold(connection: Connection): void {
    connection.queued++
    if (connection.queued >= PAUSE_QUEUED && !connection.socket.isPaused) connection.socket.pause()
  }

  #release(connection: Connection): void {
    connection.queued--
    if (connection.queued <= RESUME_QUEUED && connection.socket.isPaused) connection.socket.resume()
  }

  async #deliver(connection: Connection, message: Message, receivedAt: number): Promise<void> {
    const { relay } = this.#options
    if (relay && isDocumentSync(message)) {
      let served: boolean
      try {
        served = await relay.serves(message.documentId, message.data, this.#charge(connection))
      } catch (error) {
        // The registry could not be read (PostgreSQL down): not taken, and not silently
        // dropped either; the client sends it again when it reconnects (docs/errors.md, 1011).
        return this.close(connection, INTERNAL_ERROR_CLOSE, `message could not be checked: ${(error as Error).message}`)
      }
      if (served) return this.#relay(relay, connection, message, receivedAt)
    }
    let verdict: Verdict
    try {
      verdict = await this.#options.inspect(message, connection, this.#charge(connection))
    } catch (error) {
      verdict = { ok: false, violation: { code: CloseCodes.MALFORMED, reason: `message could not be checked: ${(error as Error).message}` } }
    }
    if (!this.#connections.has(connection)) return
    if (!verdict.ok) return this.close(connection, verdict.violation.code, verdict.violation.reason)
    if (verdict.message.type === 'sync') this.#delays?.messageArrived(verdict.message, receivedAt)
    try {
      this.emit('message', verdict.message)
    } catch (error) {
      this.close(connection, CloseCodes.MALFORMED, `message rejected by the repo: ${(error as Error).message}`)
    }
  }

  /**
   * Charges a connection's user for the decoding work of a message's changes, beyond the
   * token #receive took for the message (docs/security.md, "Rate limits weigh work"):
   * a refusal marks the user rate limited, as an empty bucket at #receive does.
   */
  #charge(connection: Connection): ChargeWork {
    return work => this.#rates.spend(connection.user, workTokens(work))
  }

  /**
   * A message for a document the relay core serves: it never reaches the repo. The
   * connection's next message is taken once this one is relayed; its acknowledgement
   * follows when its writes are done (the relay holds back what it sends this peer
   * meanwhile, relay/segment-peers.ts acknowledgeAfter) and counts as queued till then, so acknowledgements held
   * up (a write held on a full disk) pause the socket like unchecked messages do.
   */
  async #relay(relay: RelayRoute, connection: Connection, message: Message & { documentId: DocumentId; data: Uint8Array }, receivedAt: number): Promise<void> {
    let outcome: Violation | undefined | Acknowledging
    try {
      outcome = await relay.relay(message, connection.user, message.senderId, () => this.#delays?.arrived(message.documentId, message.senderId, receivedAt), this.#charge(connection))
    } catch (error) {
      outcome = { code: CloseCodes.MALFORMED, reason: `message could not be checked: ${(error as Error).message}` }
    }
    if (outcome === undefined) return
    if (!('acknowledged' in outcome)) return this.close(connection, outcome.code, outcome.reason)
    this.#hold(connection)
    outcome.acknowledged.then(
      violation => {
        this.#release(connection)
        if (violation) this.close(connection, violation.code, violation.reason)
      },
      (error: Error) => {
        this.#release(connection)
        // Its write failed: the client sends the message again when it reconnects (docs/errors.md, 1011).
        this.close(connection, INTERNAL_ERROR_CLOSE, `message could not be acknowledged: ${error.message}`)
      },
    )
  }

  #join(connection: Connection, peerId: PeerId, peerMetadata: PeerMetadata, versions: string[] | undefined): void {
    if (connection.peerId) return this.close(connection, CloseCodes.MALFORMED, 'already joined')
    // Servers' peer IDs: the nodes of a cluster are trusted peers, and no client may pose as one.
    if (peerId.startsWith(SERVER_PEER_PREFIX)) return this.close(connection, CloseCodes.FORBIDDEN, `peer IDs starting with ${SERVER_PEER_PREFIX} are reserved for servers`)
    // Scoped to the user: another user's connection under the same peer ID is another peer.
    const repoPeerId = userPeerId(connection.user, peerId)
    const holder = this.#byPeer.get(repoPeerId)
    if (versions !== undefined && !versions.includes(PROTOCOL_V1)) {
      this.#transmit(connection, { type: 'error', senderId: this.peerId, targetId: peerId, message: 'unsupported protocol version' })
      return this.close(connection, CloseCodes.MALFORMED, 'unsupported protocol version')
    }
    // The same user reconnecting with the same peer ID replaces the old socket.
    if (holder) {
      holder.socket.close(1000, 'replaced by a newer connection')
      this.#forget(holder, 1000)
    }
    connection.peerId = peerId
    connection.repoPeerId = repoPeerId
    this.#byPeer.set(repoPeerId, connection)
    this.emit('peer-candidate', { peerId: repoPeerId, peerMetadata })
    // relaysSegments: segments are served by the relay core, which forwards to a peer whatever it
    // last heard from it, so the client may hold its acknowledgements (clients/sdk network/acknowledgements.ts).
    const ours = this.#options.relay ? ({ ...this.peerMetadata, relaysSegments: true } as PeerMetadata) : this.peerMetadata
    this.#transmit(connection, { type: 'peer', senderId: this.peerId, targetId: peerId, peerMetadata: ours, selectedProtocolVersion: PROTOCOL_V1 })
    connection.log.debug({ peerId }, 'peer joined')
  }

  #forget(connection: Connection, code: number): void {
    if (!this.#connections.delete(connection)) return
    const left = this.connectionsOf(connection.user) - 1
    if (left > 0) this.#perUser.set(connection.user, left)
    else {
      this.#perUser.delete(connection.user)
      this.#options.presence?.disconnected(connection.user)
    }
    this.#options.metrics?.connectionClosed(connection.user, code)
    connection.expiry?.cancel()
    const { repoPeerId } = connection
    if (repoPeerId && this.#byPeer.get(repoPeerId) === connection) {
      this.#byPeer.delete(repoPeerId)
      this.emit('peer-disconnected', { peerId: repoPeerId })
    }
  }

  #checkAlive(): void {
    for (const connection of this.#connections) {
      if (!connection.alive) {
        connection.log.info('no pong: terminating')
        connection.socket.terminate()
        this.#forget(connection, ABNORMAL_CLOSURE)
        continue
      }
      connection.alive = false
      connection.socket.ping()
    }
    this.#rates.prune()
  }

  /**
   * The one way a frame leaves the server (repo messages, `peer` and `error` answers to a
   * join, heads replies): a connection with more than `maxBufferedBytes` waiting to be
   * read is closed with 4408 instead, so what waits never passes that bound by more than
   * one frame, whichever path sends. False when nothing was sent.
   */
  #transmit(connection: Connection, frame: object): boolean {
    const { socket } = connection
    if (!this.#connections.has(connection) || socket.readyState !== socket.OPEN) return false
    if (socket.bufferedAmount > this.#options.maxBufferedBytes) {
      this.close(connection, CloseCodes.TOO_SLOW, `more than ${this.#options.maxBufferedBytes} bytes waiting to be read`)
      return false
    }
    const bytes = this.#frames.encode(frame)
    socket.send(bytes)
    this.#options.metrics?.messageOut(bytes.byteLength)
    return true
  }
}
