/**
 * The registry's accepted hashes (access/registry.ts `accept`), written in groups: the
 * hashes of every message checked while a write is in flight go out together in the next
 * write, one LevelDB batch, and each caller's promise settles when the write holding its
 * hashes has. A message arriving alone is written at once (within the same turn), so
 * nothing waits for a timer; under load the writes coalesce (issue 15, item 3).
 */
export class AcceptBatch {
  readonly #write: (hashes: string[]) => Promise<void>
  #queued: string[] = []
  /** The write that takes what is queued now, once the one in flight has settled. */
  #next: Promise<void> | null = null
  #inFlight: Promise<void> = Promise.resolve()

  constructor(write: (hashes: string[]) => Promise<void>) {
    this.#write = write
  }

  /** Resolves once `hashes` are written (rejects when that write fails). */
  accept(hashes: readonly string[]): Promise<void> {
    if (hashes.length === 0) return Promise.resolve()
    for (const hash of hashes) this.#queued.push(hash)
    this.#next ??= this.#inFlight.then(
      () => this.#flush(),
      () => this.#flush(),
    )
    return this.#next
  }

  #flush(): Promise<void> {
    const hashes = this.#queued
    this.#queued = []
    this.#next = null
    this.#inFlight = this.#write(hashes)
    return this.#inFlight
  }
}
