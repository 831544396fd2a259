/**
 * The server's automerge-repo network adapter: one authenticated WebSocket per client,
 * automerge-repo's wire protocol (CBOR frames, `join` → `peer`). Unlike the stock
 * adapter, every frame is checked before the repo sees it, and the peer ID a client
 * announces is bound to the user its token names.
 */
import { cbor, NetworkAdapter, type Message, type PeerId, type PeerMetadata } from '@automerge/automerge-repo'
import type { FastifyBaseLogger } from 'fastify'
import type { RawData, WebSocket } from 'ws'
import { CloseCodes } from '../close-codes.ts'
import { decodeFrame, HEADS_REPLY } from './frames.ts'

const PROTOCOL_V1 = '1'

export interface Connection {
  readonly socket: WebSocket
  readonly user: string
  readonly log: FastifyBaseLogger
  peerId?: PeerId
  alive: boolean
}

export interface ServerAdapterOptions {
  /** Largest frame accepted; larger ones close the connection with 4413. */
  maxFrameBytes: number
  /** How often to ping; a socket that missed the previous pong is terminated. */
  keepAliveMs: number
  /** Called when a connection has joined as a peer. */
  onJoin?: (connection: Connection) => void
  /** The server's current heads of each document, null where it holds none. */
  headsOf: (documentIds: string[], connection: Connection) => Record<string, string[] | null>
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data)
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data
}

export class ParleyServerAdapter extends NetworkAdapter {
  readonly #options: ServerAdapterOptions
  readonly #connections = new Set<Connection>()
  readonly #byPeer = new Map<PeerId, Connection>()
  /** Which user owns each peer ID ever announced; a peer ID never changes hands. */
  readonly #peerOwners = new Map<PeerId, string>()
  #keepAlive: ReturnType<typeof setInterval> | undefined

  constructor(options: ServerAdapterOptions) {
    super()
    this.#options = options
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
  }

  get connectionCount(): number {
    return this.#connections.size
  }

  userOfPeer(peerId: PeerId): string | undefined {
    return this.#peerOwners.get(peerId)
  }

  /** Takes over an upgraded, authenticated socket. */
  accept(socket: WebSocket, user: string, log: FastifyBaseLogger): void {
    const connection: Connection = { socket, user, log, alive: true }
    this.#connections.add(connection)
    socket.on('message', data => this.#receive(connection, toBytes(data)))
    socket.on('pong', () => (connection.alive = true))
    socket.on('error', error => log.warn({ err: error }, 'socket error'))
    socket.on('close', () => this.#forget(connection))
  }

  send(message: Message): void {
    const connection = this.#byPeer.get(message.targetId)
    // A peer that left: the sync protocol catches it up when it rejoins.
    if (!connection || connection.socket.readyState !== connection.socket.OPEN) return
    connection.socket.send(cbor.encode(message))
  }

  disconnect(): void {
    clearInterval(this.#keepAlive)
    for (const connection of this.#connections) connection.socket.close(1001, 'server shutting down')
  }

  close(connection: Connection, code: number, reason: string): void {
    connection.log.warn({ code, reason }, 'closing connection')
    connection.socket.close(code, reason.slice(0, 120))
    this.#forget(connection)
  }

  #receive(connection: Connection, bytes: Uint8Array): void {
    if (!this.#connections.has(connection)) return
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
      // Answered after everything already sent on this socket, so a client that gets the
      // reply knows which server state it must reach: a barrier for `client.sync()`.
      const heads = this.#options.headsOf(frame.documentIds, connection)
      connection.socket.send(cbor.encode({ type: HEADS_REPLY, senderId: this.peerId, targetId: connection.peerId, requestId: frame.requestId, heads }))
      return
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
    // Next issue: per-conversation access, author binding, rate limits and backpressure
    // are checked here, before the repo sees the message.
    try {
      this.emit('message', message)
    } catch (error) {
      return this.close(connection, CloseCodes.MALFORMED, `message rejected by the repo: ${(error as Error).message}`)
    }
  }

  #join(connection: Connection, peerId: PeerId, peerMetadata: PeerMetadata, versions: string[] | undefined): void {
    if (connection.peerId) return this.close(connection, CloseCodes.MALFORMED, 'already joined')
    const owner = this.#peerOwners.get(peerId)
    if (owner !== undefined && owner !== connection.user) {
      return this.close(connection, CloseCodes.FORBIDDEN, 'peer ID belongs to another user')
    }
    if (versions !== undefined && !versions.includes(PROTOCOL_V1)) {
      connection.socket.send(cbor.encode({ type: 'error', senderId: this.peerId, targetId: peerId, message: 'unsupported protocol version' }))
      return this.close(connection, CloseCodes.MALFORMED, 'unsupported protocol version')
    }
    // The same user reconnecting with the same peer ID replaces the old socket.
    const previous = this.#byPeer.get(peerId)
    if (previous) {
      previous.socket.close(1000, 'replaced by a newer connection')
      this.#forget(previous)
    }
    this.#peerOwners.set(peerId, connection.user)
    connection.peerId = peerId
    this.#byPeer.set(peerId, connection)
    this.emit('peer-candidate', { peerId, peerMetadata })
    connection.socket.send(
      cbor.encode({ type: 'peer', senderId: this.peerId, targetId: peerId, peerMetadata: this.peerMetadata, selectedProtocolVersion: PROTOCOL_V1 }),
    )
    connection.log.debug({ peerId }, 'peer joined')
    this.#options.onJoin?.(connection)
  }

  #forget(connection: Connection): void {
    if (!this.#connections.delete(connection)) return
    const { peerId } = connection
    if (peerId && this.#byPeer.get(peerId) === connection) {
      this.#byPeer.delete(peerId)
      this.emit('peer-disconnected', { peerId })
    }
  }

  #checkAlive(): void {
    for (const connection of this.#connections) {
      if (!connection.alive) {
        connection.log.info('no pong: terminating')
        connection.socket.terminate()
        this.#forget(connection)
        continue
      }
      connection.alive = false
      connection.socket.ping()
    }
  }
}
