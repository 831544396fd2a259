/**
 * This device's read cursor in one conversation, moved at most once per interval.
 *
 * Every move is a `read` event appended to the conversation's newest segment, which the
 * server checks, stores and sends to every member as it does a message. An app that marks
 * each arriving message read (the web app does, while the conversation is visible) would
 * write one per message per reader, and so double what the server does per message
 * (`npm run bench:latency`, benchmarks/RESULTS.md "latency", 2026-12-07: server CPU per
 * one-to-one message 1.9–2.1 times that with no reading when every move is written, 1.1–1.2
 * times with this interval). So the first move after a quiet interval is written at once
 * (a single message read shows as read to the others at once), and moves within
 * `intervalMs` of the last write wait: at the end of the interval the newest of them is
 * written, once. The conversation counts unread messages from the newest move at once
 * either way.
 *
 * (Until 2026-12-07 each move was a change to the conversation's head document instead,
 * which the server took through its Repo and which kept every move in its history: with
 * each move written, `npm run bench:latency` measured 5.8 ms of server CPU per one-to-one
 * message instead of 0.95 ms, benchmarks/RESULTS.md, "latency"; docs/architecture.md,
 * "Read receipts".)
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

  /** `write` resolves once the receipt is stored (it must not throw: reject). */
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
