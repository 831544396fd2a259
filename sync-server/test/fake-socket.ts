/** A stand-in for a `ws` WebSocket that the network adapter accepts, recording the closes it is asked for. */
import { cbor, type PeerId } from '@automerge/automerge-repo'
import { EventEmitter } from 'node:events'
import { pino } from 'pino'
import type { WebSocket } from 'ws'
import { ParleyServerAdapter, type ServerAdapterOptions } from '../src/network/server-adapter.ts'

export class FakeSocket extends EventEmitter {
  readonly OPEN = 1
  readyState = 1
  bufferedAmount = 0
  isPaused = false
  readonly closes: { code: number; reason: string }[] = []
  /** The frames sent, as written. */
  readonly sent: Uint8Array[] = []
  send(bytes: Uint8Array): void {
    this.sent.push(bytes)
  }
  ping(): void {}
  terminate(): void {}
  pause(): void {
    this.isPaused = true
  }
  resume(): void {
    this.isPaused = false
  }
  close(code: number, reason: string): void {
    this.closes.push({ code, reason })
  }
}

/**
 * A network adapter (server peer ID `server`) with alice's connection on a FakeSocket,
 * joined as `alice-1`; every message passes its check, she may read everything, and
 * `options` override the rest.
 */
export function joinedAdapter(options: Partial<ServerAdapterOptions> = {}): { adapter: ParleyServerAdapter; socket: FakeSocket } {
  const adapter = new ParleyServerAdapter({
    maxFrameBytes: 1 << 20,
    keepAliveMs: 60_000,
    rate: { perSecond: 10_000, burst: 10_000 },
    maxBufferedBytes: 1 << 20,
    inspect: async message => ({ ok: true, message }),
    mayReceive: () => true,
    headsOf: async () => ({}),
    ...options,
  })
  adapter.connect('server' as PeerId)
  const socket = new FakeSocket()
  adapter.accept(socket as unknown as WebSocket, { user: 'alice' }, pino({ level: 'silent' }))
  socket.emit('message', cbor.encode({ type: 'join', senderId: 'alice-1', peerMetadata: {}, supportedProtocolVersions: ['1'] }))
  return { adapter, socket }
}
