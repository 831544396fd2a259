/**
 * This device's read cursor in one conversation, moved at most once per interval.
 *
 * Every move is a `read` event appended to the conversation's newest segment, which the
 * server checks, stores and sends to every member as it does a message. An app that marks
 * each arriving message read (the web app does, while the conversation is visible) would
 * write one per message per reader, and so double what the server does per message
 * (`npm run bench:latency`, benchmarks/RESULTS.md "latency", three runs on 2026-12-07: server
 * CPU per one-to-one message 1.2–2.1 times that with no reading when every move is written,
 * 1.0–1.2 times with this interval). So the first move after a quiet interval is written at once
 * (a single message read shows as read to the others at once), and moves within
 * `intervalMs` of the last write wait: at the end of the interval the newest of them is
 * written, once. The conversation counts unread messages from the newest move at once
 * either way. In a group the interval grows with its members (`receiptInterval`), so a
 * group reading along writes at most GROUP_RECEIPTS_PER_SECOND receipts a second.
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

/**
 * Receipts a group's members write a second together, at most, however large the group:
 * every receipt goes to every member, so with one interval for all, a group reading along
 * costs the server frames in the square of its size (100 members at 2 s: 5,000 a second).
 */
export const GROUP_RECEIPTS_PER_SECOND = 5

/** The interval for a conversation of `members`: `intervalMs`, longer in a large group (GROUP_RECEIPTS_PER_SECOND); 0 stays 0. */
export function receiptInterval(intervalMs: number, members: number): number {
  return intervalMs === 0 ? 0 : Math.max(intervalMs, (members * 1000) / GROUP_RECEIPTS_PER_SECOND)
}

export class ReadCursor {
  /** Asked at each move: a conversation's members may come and go. */
  readonly #intervalMs: () => number
  readonly #write: (receipt: ReadEvent) => Promise<void>
  #pending: ReadEvent | undefined
  /** Callers whose move the next write carries. */
  #waiting: { resolve: () => void; reject: (error: unknown) => void }[] = []
  #lastWrite = Number.NEGATIVE_INFINITY
  #timer: ReturnType<typeof setTimeout> | undefined

  /** `write` resolves once the receipt is stored (it must not throw: reject). */
  constructor(intervalMs: () => number, write: (receipt: ReadEvent) => Promise<void>) {
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
    const intervalMs = this.#intervalMs()
    if (this.#timer === undefined && sinceLast >= intervalMs) return this.#writeNow(receipt)
    this.#pending = receipt
    this.#timer ??= setTimeout(() => void this.flush().catch(() => undefined), intervalMs - sinceLast)
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
