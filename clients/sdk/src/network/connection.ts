/**
 * The client's network adapter: one WebSocket to the sync server speaking
 * automerge-repo's wire protocol (CBOR frames, `join` → `peer`), with our own
 * reconnect policy. The stock adapter retries every 5 s without backoff and throws on
 * an HTTP 401 at upgrade; this one backs off with full jitter, resets the backoff only
 * once a connection has stayed up, and reports a refused token as a clear error.
 *
 * Given several URLs (the nodes of a cluster), it stays on the one that works and moves
 * to the next whenever an attempt fails or a connection drops, with the same backoff.
 */
import { NetworkAdapter, cbor, type Message, type PeerId, type PeerMetadata } from '@automerge/automerge-repo/slim'
import WebSocket from 'isomorphic-ws'
import { ClientErrorCodes, ParleyError } from '../errors.ts'
import { DEFAULT_ACK_DELAY_MS, HeldAcknowledgements, isAcknowledgement } from './acknowledgements.ts'
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts'
import { displayUrl, failedAttempt, refusedUpgrade } from './failure.ts'

export type ConnectionStatus = 'connecting' | 'online' | 'offline'

/** The server's heads of each document asked about; null where it holds none. */
export type ServerHeads = Record<string, string[] | null>

export interface ConnectionOptions {
  /** The server's sync URL, or several (tried in turn). */
  url: string | readonly string[]
  /** Called before every connection attempt, so an expired token can be replaced. */
  token: () => Promise<string>
  backoff?: BackoffOptions
  /** How long a connection must stay up before the backoff starts again from its minimum. */
  stableAfterMs?: number
  onStatus?: (status: ConnectionStatus) => void
  onError?: (error: ParleyError) => void
  /** The WebSocket class; injected by tests. Default: `ws` in Node, the global one in browsers. */
  WebSocket?: WebSocketClass
  /**
   * Ranks of documents for the catch-up after a (re)connect, lower first (e.g. 0 for
   * conversations with high-priority messages; unlisted documents rank 1). Messages the
   * repo sends in the first tick after the handshake go out in this order.
   */
  ranks?: () => Map<string, number>
  /** How long the repo's acknowledgements of received changes may wait, coalescing (network/acknowledgements.ts; 0: sent at once). */
  ackDelayMs?: number
  /**
   * Whether acknowledgements of this document may wait: only where the server forwards new
   * changes without waiting for them (segments on a relay core server). Default: every document.
   */
  mayHoldAcknowledgement?: (documentId: string) => boolean
}

/** The slice of the WebSocket API used here, so tests can inject a fake. */
export type WebSocketClass = new (url: string) => Pick<WebSocket, 'send' | 'close' | 'readyState' | 'binaryType' | 'onopen' | 'onmessage' | 'onerror' | 'onclose'>

const OPEN = 1

/**
 * Runs a callback once the microtasks queued so far, and those they queue, have run: Node's
 * process.nextTick does that when called from a microtask. Browsers have no such queue (a
 * macrotask could come after other work of the app): there the connection writes at once.
 */
const afterMicrotasks: ((callback: () => void) => void) | undefined =
  typeof process !== 'undefined' && process.versions?.node !== undefined ? callback => process.nextTick(callback) : undefined

/** Close codes the server uses for a refused or expired token, and for a forbidden write. */
const UNAUTHENTICATED_CLOSE = 4401
const FORBIDDEN_CLOSE = 4403
/** The close reason the server gives when a token ran out during the connection. */
const TOKEN_EXPIRED = 'token expired'

export class ServerConnection extends NetworkAdapter {
  /** 'connecting' from construction: the repo calls connect() only once its storage is open. */
  status: ConnectionStatus = 'connecting'
  /** The server's peer metadata (its storage ID) once the handshake is done. */
  serverMetadata: PeerMetadata | undefined
  /**
   * Why the latest attempt failed (network/failure.ts: unreachable, refused token, not a
   * sync endpoint); undefined once a connection is up.
   */
  failure: ParleyError | undefined
  #options: ConnectionOptions & { backoff: BackoffOptions; stableAfterMs: number; WebSocket: WebSocketClass }
  readonly #urls: readonly string[]
  /** Index in #urls of the server this connection uses (or will try next). */
  #current = 0
  #socket: InstanceType<WebSocketClass> | undefined
  #serverPeerId: PeerId | undefined
  #attempt = 0
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #stableTimer: ReturnType<typeof setTimeout> | undefined
  #closed = false
  #nextRequest = 1
  readonly #headsRequests = new Map<number, { resolve: (heads: ServerHeads) => void; reject: (error: Error) => void }>()
  /** Messages the repo sent while handling a received one, written once the turn's microtasks have run (#flushOutbox). */
  #outbox: Message[] = []
  /** Set from a received message until its turn's microtasks have run (Node only: afterMicrotasks). */
  #answering = false
  /** Documents whose sync messages arrived this turn: what the repo sends for them until the turn ends answers them. */
  readonly #answeringFor = new Set<string>()
  readonly #answered = (): void => {
    this.#answering = false
    this.#answeringFor.clear()
  }
  /** Messages held during the first tick after a handshake, to be sent in rank order. */
  #catchUp: Message[] | undefined
  readonly #acks: HeldAcknowledgements | undefined
  #ready = false
  #resolveReady!: () => void
  readonly #readyPromise = new Promise<void>(resolve => (this.#resolveReady = resolve))

  constructor(options: ConnectionOptions) {
    super()
    this.#options = { backoff: DEFAULT_BACKOFF, stableAfterMs: 5_000, WebSocket, ...options }
    this.#urls = typeof options.url === 'string' ? [options.url] : [...options.url]
    if (this.#urls.length === 0) throw new ParleyError(ClientErrorCodes.INVALID_OPTION, 'a connection needs at least one server URL')
    const ackDelayMs = options.ackDelayMs ?? DEFAULT_ACK_DELAY_MS
    this.#acks = ackDelayMs > 0 ? new HeldAcknowledgements(ackDelayMs, message => this.send(message)) : undefined
  }

  /** The sync URL in use, or to be tried next. */
  get url(): string {
    return this.#urls[this.#current]!
  }

  /** Ready once the first attempt has either joined or failed: offline finds must not hang. */
  isReady(): boolean {
    return this.#ready
  }

  whenReady(): Promise<void> {
    return this.#readyPromise
  }

  connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
    this.peerId = peerId
    this.peerMetadata = peerMetadata ?? {}
    void this.#open()
  }

  send(message: Message): void {
    // Dropped while offline: on reconnect the sync protocol works out what is missing.
    if (this.#socket?.readyState !== OPEN) return
    // The repo passes every ephemeral message it receives (typing) on to its other peers:
    // here the server, which relayed it to everyone already and drops the copy. Sent anyway,
    // each cost the server a frame per member per message (npm run bench:latency, "sender typing").
    if (message.type === 'ephemeral' && message.senderId !== this.peerId) return
    const documentId = message.type === 'sync' || message.type === 'request' ? message.documentId : undefined
    if (this.#acks && documentId !== undefined) {
      if (this.#answeringFor.has(documentId) && (this.#options.mayHoldAcknowledgement?.(documentId) ?? true) && isAcknowledgement(message)) return this.#acks.hold(documentId, message)
      this.#acks.supersede(documentId)
    }
    if (this.#catchUp) this.#catchUp.push(message)
    else if (!this.#answering && this.#outbox.length === 0) this.#socket.send(cbor.encode(message))
    else if (this.#outbox.push(message) === 1) afterMicrotasks!(this.#flushOutbox)
  }

  /**
   * Writes what the repo sent while it handled a received message. The repo answers a
   * received change (its acknowledgement) from inside its handling, before the handle
   * announces the change: written at once, the answer's encoding and socket write stood
   * between the change arriving and the app seeing it (issue 15, item 5). Written here
   * instead, after every microtask of that turn (the repo's, the conversation's and its
   * subscribers'), in the order sent. A change made here is not held: its message goes at
   * once, and its local save a turn later (next-turn.ts).
   */
  readonly #flushOutbox = (): void => {
    const messages = this.#outbox
    this.#outbox = []
    const socket = this.#socket
    if (socket?.readyState !== OPEN) return // dropped, as above
    for (const message of messages) socket.send(cbor.encode(message))
  }

  /** Sends what the repo queued since the handshake, higher-priority documents first (stable). */
  #flushCatchUp(): void {
    const held = this.#catchUp ?? []
    this.#catchUp = undefined
    const ranks = this.#options.ranks?.() ?? new Map<string, number>()
    const rankOf = (message: Message): number => ranks.get(('documentId' in message && message.documentId) || '') ?? 1
    const ranked = held.map((message, index) => ({ message, index, rank: rankOf(message) }))
    ranked.sort((a, b) => a.rank - b.rank || a.index - b.index)
    for (const { message } of ranked) this.send(message)
  }

  /**
   * Asks the server for its current heads of these documents. The reply comes after
   * everything the server already sent on this socket, so it is a barrier: once local
   * documents contain these heads, nothing the server had is still in flight.
   */
  requestHeads(documentIds: string[]): Promise<ServerHeads> {
    if (this.#socket?.readyState !== OPEN || !this.#serverPeerId) return Promise.reject(new Error('not connected'))
    const requestId = this.#nextRequest++
    this.#acks?.flush()
    this.#flushOutbox() // after what the repo sent before it, as always
    this.#socket.send(cbor.encode({ type: 'parley/heads-request', senderId: this.peerId, targetId: this.#serverPeerId, requestId, documentIds }))
    return new Promise((resolve, reject) => this.#headsRequests.set(requestId, { resolve, reject }))
  }

  disconnect(): void {
    this.#closed = true
    clearTimeout(this.#retryTimer)
    clearTimeout(this.#stableTimer)
    this.#socket?.close(1000)
    this.#dropPeer()
    this.#setStatus('offline')
  }

  /**
   * Closes the current socket as if the network dropped; the usual backoff reconnects. The
   * connection counts as closed at once: the closing handshake needs the network that just
   * went away (Chromium kept such a socket open, and the client online, for 30 s and more
   * after the browser said it was offline).
   */
  dropConnection(): void {
    const socket = this.#socket
    if (!socket) return
    socket.close(4000)
    // Our own handler (#open), which ignores the real close event when it comes later.
    socket.onclose?.({ code: 4000, reason: 'dropped by the client' } as Parameters<NonNullable<typeof socket.onclose>>[0])
  }

  async #open(): Promise<void> {
    if (this.#closed) return
    this.#setStatus('connecting')
    let token: string
    try {
      token = await this.#options.token()
    } catch (cause) {
      this.#options.onError?.(new ParleyError(ClientErrorCodes.UNAUTHENTICATED, 'the token callback failed', { cause }))
      this.#scheduleRetry()
      return
    }
    if (this.#closed) return
    const url = new URL(this.url)
    url.searchParams.set('token', token)
    const socket = new this.#options.WebSocket(url.toString())
    socket.binaryType = 'arraybuffer'
    this.#socket = socket
    let opened = false
    let failure: ParleyError | undefined
    // Node's ws: read the status and body of a refused upgrade (the server's reason), then end the attempt.
    onUnexpectedResponse(socket, (status, body) => {
      failure = refusedUpgrade(this.url, status, body)
      socket.close()
    })
    socket.onopen = () => {
      opened = true
      socket.send(cbor.encode({ type: 'join', senderId: this.peerId, peerMetadata: this.peerMetadata, supportedProtocolVersions: ['1'] }))
    }
    socket.onmessage = event => this.#receive(event.data as ArrayBuffer)
    socket.onerror = event => {
      if (!opened) failure ??= failedAttempt(this.url, event as { message?: string; error?: { code?: string } })
    }
    socket.onclose = event => {
      if (this.#socket !== socket) return
      this.#socket = undefined
      clearTimeout(this.#stableTimer)
      this.#dropPeer()
      // An attempt that never opened (a close code of 4000 and above is the server speaking,
      // so it did). Recorded before the first attempt counts as done, so sync() can tell why.
      if (!opened && event.code < 4000 && !this.#closed) this.#attemptFailed(failure ?? failedAttempt(this.url, undefined))
      this.#markReady()
      // An expired token is routine: reconnect at once with a fresh one from the callback.
      // Pending changes stay in the repo and sync on the new connection.
      if (event.code === UNAUTHENTICATED_CLOSE && event.reason === TOKEN_EXPIRED) return this.#scheduleRetry(0)
      // The attempt failed or the connection dropped: the next attempt goes to the next server.
      this.#current = (this.#current + 1) % this.#urls.length
      if (event.code === UNAUTHENTICATED_CLOSE) this.#unauthenticated(url, event.reason)
      if (event.code === FORBIDDEN_CLOSE) {
        this.#options.onError?.(new ParleyError(ClientErrorCodes.FORBIDDEN, `the server refused a change: ${event.reason || 'forbidden'}`))
      }
      this.#scheduleRetry()
    }
  }

  #receive(data: ArrayBuffer): void {
    let message: { type?: string; senderId?: PeerId; peerMetadata?: PeerMetadata; message?: string; requestId?: number; heads?: ServerHeads }
    try {
      message = cbor.decode(new Uint8Array(data))
    } catch {
      this.#socket?.close(4400)
      return
    }
    if (message.type === 'peer' && message.senderId) {
      this.failure = undefined
      this.#serverPeerId = message.senderId
      this.serverMetadata = message.peerMetadata ?? {}
      this.#setStatus('online')
      this.#markReady()
      this.#stableTimer = setTimeout(() => (this.#attempt = 0), this.#options.stableAfterMs)
      if (this.#options.ranks) {
        this.#catchUp = []
        setTimeout(() => this.#flushCatchUp(), 0)
      }
      this.emit('peer-candidate', { peerId: message.senderId, peerMetadata: this.serverMetadata })
    } else if (message.type === 'parley/heads') {
      const request = this.#headsRequests.get(message.requestId ?? 0)
      this.#headsRequests.delete(message.requestId ?? 0)
      request?.resolve(message.heads ?? {})
    } else if (message.type === 'error') {
      this.#options.onError?.(new ParleyError(ClientErrorCodes.INVALID_OPTION, `server error: ${message.message}`))
    } else {
      this.#answerTurn(message.type === 'sync' ? (message as { documentId?: string }).documentId : undefined)
      this.emit('message', message as Message)
    }
  }

  /**
   * A received message is being handled: until the turn ends, what the repo sends answers it
   * (Node: the turn's microtasks, #answering, its writes go out after them; browsers write at
   * once). For a sync message, an answer that only acknowledges may wait (#acks): in
   * browsers the turn ends with the next macrotask.
   */
  #answerTurn(documentId: string | undefined): void {
    const holding = this.#acks !== undefined && documentId !== undefined
    if (!afterMicrotasks && !holding) return
    if (!this.#answering && this.#answeringFor.size === 0) {
      // Queued from a microtask, so that it runs after the repo's handling (microtasks too).
      if (afterMicrotasks) queueMicrotask(() => afterMicrotasks(this.#answered))
      else setTimeout(this.#answered, 0)
    }
    this.#answering = afterMicrotasks !== undefined
    if (holding) this.#answeringFor.add(documentId)
  }

  #unauthenticated(url: URL, reason: string): void {
    this.#options.onError?.(new ParleyError(ClientErrorCodes.UNAUTHENTICATED, `the server at ${displayUrl(url.toString())} closed the connection: the token was refused (${reason || 'close 4401'})`))
  }

  /**
   * A refused token or a URL that is no sync endpoint is reported on every attempt (someone
   * must act); an unreachable server once per outage, not once per retry.
   */
  #attemptFailed(failure: ParleyError): void {
    const repeated = this.failure?.code === failure.code && this.failure.message === failure.message
    this.failure = failure
    if (failure.code === ClientErrorCodes.UNREACHABLE && repeated) return
    this.#options.onError?.(failure)
  }

  #scheduleRetry(delayMs?: number): void {
    this.#setStatus('offline')
    if (this.#closed) return
    const { maxAttempts } = this.#options.backoff
    if (delayMs === undefined && maxAttempts !== undefined && this.#attempt >= maxAttempts) return
    const delay = delayMs ?? backoffDelay(this.#attempt++, this.#options.backoff)
    this.#retryTimer = setTimeout(() => void this.#open(), delay)
  }

  #dropPeer(): void {
    this.#catchUp = undefined
    this.#acks?.clear()
    for (const request of this.#headsRequests.values()) request.reject(new Error('connection closed'))
    this.#headsRequests.clear()
    if (!this.#serverPeerId) return
    const peerId = this.#serverPeerId
    this.#serverPeerId = undefined
    this.emit('peer-disconnected', { peerId })
  }

  #markReady(): void {
    if (this.#ready) return
    this.#ready = true
    this.#resolveReady()
  }

  #setStatus(status: ConnectionStatus): void {
    if (this.status === status) return
    this.status = status
    this.#options.onStatus?.(status)
  }
}

/** The slice of Node's `http.IncomingMessage` read here (connection.ts runs in browsers too). */
interface UpgradeResponse {
  statusCode?: number
  setEncoding(encoding: 'utf8'): void
  on(event: 'data', listener: (chunk: string) => void): void
  on(event: 'end' | 'error', listener: () => void): void
}

/** Largest refusal body read, and how long its reading may take. */
const REFUSAL_BODY_BYTES = 4096
const REFUSAL_BODY_MS = 5_000

/**
 * With Node's `ws`, calls `refused(status, body)` when the server answers the upgrade with
 * something other than 101. Browsers give no such event; there the attempt just fails.
 */
function onUnexpectedResponse(socket: object, refused: (status: number, body: string) => void): void {
  const emitter = socket as { on?: (event: string, listener: (request: unknown, response: UpgradeResponse) => void) => void }
  if (typeof emitter.on !== 'function') return
  emitter.on('unexpected-response', (_request, response) => {
    let body = ''
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      refused(response.statusCode ?? 0, body)
    }
    const timer = setTimeout(finish, REFUSAL_BODY_MS)
    response.setEncoding('utf8')
    response.on('data', chunk => {
      if (body.length < REFUSAL_BODY_BYTES) body += chunk.slice(0, REFUSAL_BODY_BYTES - body.length)
    })
    response.on('end', finish)
    response.on('error', finish)
  })
}
