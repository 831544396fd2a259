/**
 * BENCH_CLIENT_SPLIT=1 (with `--only`): where the clients' part of the latency goes, from
 * hooks on ws's WebSocket, the socket the Parley client library uses in Node. The sender
 * measures from its `send` call to its socket write. The receiver measures from the
 * socket's message to the app's callback. Each worker prints the p50 and p90 of its side
 * over the measured messages when it closes. Together with the server's
 * `parley_delivery_latency_seconds` (arrival to relay), what is left of the one-way
 * latency is the kernel and waiting for a core.
 */
import WebSocket from 'ws'

export class ClientSplit {
  #sendStart = 0
  #lastArrival = 0
  readonly #sends: number[] = []
  readonly #receives: number[] = []

  constructor() {
    const split = this
    const { emit, send } = WebSocket.prototype
    WebSocket.prototype.emit = function (this: WebSocket, event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'message') split.#lastArrival = performance.now()
      return emit.call(this, event, ...args)
    }
    WebSocket.prototype.send = function (this: WebSocket, ...args: unknown[]): void {
      if (split.#sendStart > 0) {
        split.#sends.push(performance.now() - split.#sendStart)
        split.#sendStart = 0
      }
      ;(send as (...args: unknown[]) => void).apply(this, args)
    } as WebSocket['send']
  }

  /** The app is about to send a message: the next socket write is its. */
  sending(): void {
    this.#sendStart = performance.now()
  }

  /** The app's callback has a message: the last socket message brought it. */
  received(): void {
    this.#receives.push(performance.now() - this.#lastArrival)
  }

  /** `measured`: the last so many messages (those after the warm-up); all when absent. */
  summary(role: string, measured?: number): string {
    const [times, what] = role === 'sender' ? [this.#sends, 'send() → socket write'] : [this.#receives, 'socket message → callback']
    const sorted = times.slice(measured === undefined ? 0 : -measured).sort((a, b) => a - b)
    const at = (share: number) => (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * share))] ?? Number.NaN).toFixed(3)
    return `${role} ${what}: p50 ${at(0.5)} ms, p90 ${at(0.9)} ms over the last ${sorted.length} messages`
  }
}
