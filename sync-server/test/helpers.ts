import { cbor, Repo, type PeerId } from '@automerge/automerge-repo'
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import { WebSocket } from 'ws'
import type { TestServer } from '../src/testing.ts'

/** A raw WebSocket speaking the wire protocol by hand, to send what no library would. */
export class RawClient {
  readonly socket: WebSocket
  readonly closed: Promise<{ code: number; reason: string }>
  readonly received: Record<string, unknown>[] = []

  private constructor(socket: WebSocket) {
    this.socket = socket
    this.closed = new Promise(resolve => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })))
    socket.on('message', data => this.received.push(cbor.decode(data as Uint8Array)))
  }

  static async open(server: TestServer, user: string): Promise<RawClient> {
    const socket = new WebSocket(`${server.url}?token=${await server.token(user)}`)
    await new Promise((resolve, reject) => {
      socket.once('open', resolve)
      socket.once('error', reject)
    })
    return new RawClient(socket)
  }

  send(message: unknown): void {
    this.socket.send(cbor.encode(message))
  }

  sendBytes(bytes: Uint8Array): void {
    this.socket.send(bytes)
  }

  /** Joins as `peerId` and resolves with the server's `peer` reply. */
  async join(peerId: string): Promise<Record<string, unknown>> {
    this.send({ type: 'join', senderId: peerId, peerMetadata: {}, supportedProtocolVersions: ['1'] })
    return this.next(message => message.type === 'peer')
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
}

/** A stock automerge-repo client (no Parley code), connected with a token. */
export async function stockRepo(server: TestServer, user: string, peerId?: string): Promise<{ repo: Repo; close(): void }> {
  const adapter = new WebSocketClientAdapter(`${server.url}?token=${await server.token(user)}`)
  const repo = new Repo({ network: [adapter], peerId: peerId as PeerId | undefined })
  await adapter.whenReady()
  return { repo, close: () => adapter.disconnect() }
}
