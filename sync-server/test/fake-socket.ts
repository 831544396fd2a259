/** A stand-in for a `ws` WebSocket that the network adapter accepts, recording the closes it is asked for. */
import { EventEmitter } from 'node:events'

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
