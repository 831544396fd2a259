/**
 * Test support (exported through `@parley/sync-server/testing`): a raw WebSocket
 * speaking automerge-repo's wire protocol by hand, to send what no library would. It
 * never throws on a socket the server already closed, since hostile tests keep sending
 * after the first bad frame.
 */
import { cbor } from '@automerge/automerge-repo'
import { WebSocket } from 'ws'

/** Anything that serves `/sync` and mints tokens: `startTestServer()` or a test double. */
export interface SyncEndpoint {
  /** `ws://HOST:PORT/sync` */
  url: string
  token(user: string): Promise<string>
}

export interface Closed {
  code: number
  reason: string
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)))
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

export class RawClient {
  readonly socket: WebSocket
  readonly closed: Promise<Closed>
  readonly received: Record<string, unknown>[] = []
  /** Socket-level errors (resets after the server's close, sends after close); kept, never thrown. */
  readonly errors: Error[] = []

  private constructor(socket: WebSocket) {
    this.socket = socket
    this.closed = new Promise(resolve => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })))
    socket.on('error', error => this.errors.push(error))
    socket.on('message', data => {
      try {
        this.received.push(cbor.decode(data as Uint8Array))
      } catch {
        this.received.push({ undecodable: data })
      }
    })
  }

  /** `token` replaces the endpoint's own token for `user` (e.g. a short-lived one). */
  static async open(endpoint: SyncEndpoint, user: string, options: { token?: string; timeoutMs?: number } = {}): Promise<RawClient> {
    const { token, timeoutMs = 5_000 } = options
    const socket = new WebSocket(`${endpoint.url}?token=${token ?? (await endpoint.token(user))}`)
    const opened = new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
      socket.once('unexpected-response', (_, response) => reject(new Error(`upgrade refused with HTTP ${response.statusCode}`)))
    })
    try {
      await withTimeout(opened, timeoutMs, `opening a socket for ${user}`)
    } catch (error) {
      socket.terminate()
      throw error
    }
    return new RawClient(socket)
  }

  send(message: unknown): void {
    this.sendBytes(cbor.encode(message))
  }

  /** Sends even when the server has closed the socket meanwhile: the error is recorded, not thrown. */
  sendBytes(bytes: Uint8Array): void {
    if (this.socket.readyState !== WebSocket.OPEN) return
    this.socket.send(bytes, error => error && this.errors.push(error))
  }

  /** Joins as `peerId`; resolves with the server's `peer` reply, rejects if the socket closes first. */
  async join(peerId: string, timeoutMs = 5_000): Promise<Record<string, unknown>> {
    this.send({ type: 'join', senderId: peerId, peerMetadata: {}, supportedProtocolVersions: ['1'] })
    const closedFirst = this.closed.then(({ code, reason }) => Promise.reject(new Error(`closed with ${code} (${reason}) instead of answering join`)))
    return withTimeout(Promise.race([this.next(message => message.type === 'peer'), closedFirst]), timeoutMs, `join as ${peerId}`)
  }

  next(predicate: (message: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    const found = this.received.find(predicate)
    if (found) return Promise.resolve(found)
    return new Promise(resolve => {
      const listener = (): void => {
        const match = this.received.find(predicate)
        if (!match) return
        this.socket.off('message', listener)
        resolve(match)
      }
      this.socket.on('message', listener)
    })
  }

  /** The server's close, or undefined if it did not close within `ms`. */
  closedWithin(ms: number): Promise<Closed | undefined> {
    return withTimeout(this.closed, ms, 'close').catch(() => undefined)
  }

  /** Drops the TCP connection without a closing handshake. */
  terminate(): void {
    this.socket.terminate()
  }
}
