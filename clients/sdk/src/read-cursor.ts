/**
 * This device's read cursor in one conversation, moved at most once per interval.
 *
 * Every move is a change to the conversation's head document: the server takes it through
 * its repo path and sends it to every member, and the head keeps it in its history for
 * good. An app that marks each arriving message read (the web app does, while the
 * conversation is visible) made one such change per message per reader: in
 * `npm run bench:latency` the server spent 5.8 ms of CPU per one-to-one message instead of
 * 0.95 ms when the receiver did, and p50 went from 1.4 to 5.7 ms (benchmarks/RESULTS.md,
 * "latency", the rows "receiver marking read"; with this interval, 0.96 ms and 1.5 ms).
 * So the first move after a quiet interval is written at once (a single message
 * read shows as read to the others at once), and moves within `intervalMs` of the last
 * write wait: at the end of the interval the newest of them is written, once. Until then
 * it is `pending`, and the conversation counts unread messages from it, so this device
 * shows the move at once either way.
 */
import type { ReadEvent } from '@parley/core'

/** How often a device writes its read cursor in one conversation at most (ms): ClientOptions `readCursorIntervalMs`. */
export const DEFAULT_READ_CURSOR_INTERVAL_MS = 2000

export class ReadCursor {
  readonly #intervalMs: number
  readonly #write: (receipt: ReadEvent) => Promise<void>
  #pending: ReadEvent | undefined
  /** Callers whose move the next write carries. */
  #waiting: { resolve: () => void; reject: (error: unknown) => void }[] = []
  #lastWrite = Number.NEGATIVE_INFINITY
  #timer: ReturnType<typeof setTimeout> | undefined

  /** `write` applies the receipt to the head before it returns, and resolves once it is stored (it must not throw: reject). */
  constructor(intervalMs: number, write: (receipt: ReadEvent) => Promise<void>) {
    this.#intervalMs = intervalMs
    this.#write = write
  }

  /** The move waiting for its write, if any. */
  get pending(): ReadEvent | undefined {
    return this.#pending
  }

  /** Moves the cursor: written now, or with the interval's last move; resolves once that write is stored. */
  move(receipt: ReadEvent): Promise<void> {
    const sinceLast = performance.now() - this.#lastWrite
    if (this.#timer === undefined && sinceLast >= this.#intervalMs) return this.#writeNow(receipt)
    this.#pending = receipt
    this.#timer ??= setTimeout(() => void this.flush().catch(() => undefined), this.#intervalMs - sinceLast)
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }))
  }

  /** Writes the waiting move now, if there is one (the conversation closes). */
  flush(): Promise<void> {
    clearTimeout(this.#timer)
    this.#timer = undefined
    const receipt = this.#pending
    const waiting = this.#waiting
    this.#pending = undefined
    this.#waiting = []
    if (receipt === undefined) return Promise.resolve()
    const written = this.#writeNow(receipt)
    written.then(
      () => waiting.forEach(one => one.resolve()),
      (error: unknown) => waiting.forEach(one => one.reject(error)),
    )
    return written
  }

  #writeNow(receipt: ReadEvent): Promise<void> {
    this.#lastWrite = performance.now()
    return this.#write(receipt)
  }
}
