/**
 * Coalesces writes made while one is out into the next one. A PostgreSQL round trip costs
 * about ten LevelDB writes, so the registry and the webhook queue write whatever arrived
 * meanwhile as one multi-row INSERT; a LevelDB write costs a thread-pool round trip, so
 * the LevelDB databases write whatever arrived meanwhile as one batch
 * (resilient-database.ts). The first write goes at once (no timer, no added latency when
 * idle); each caller's promise settles with the write that carried its items.
 */
export class WriteBatch<T> {
  readonly #write: (items: T[]) => Promise<void>
  #waiting: { items: T[]; settle: Array<{ resolve: () => void; reject: (error: unknown) => void }> } | undefined
  #busy = false
  #idle: Promise<void> = Promise.resolve()
  #markIdle: () => void = () => {}

  constructor(write: (items: T[]) => Promise<void>) {
    this.#write = write
  }

  add(items: readonly T[]): Promise<void> {
    if (items.length === 0) return Promise.resolve()
    return new Promise((resolve, reject) => {
      this.#waiting ??= { items: [], settle: [] }
      this.#waiting.items.push(...items)
      this.#waiting.settle.push({ resolve, reject })
      if (!this.#busy) void this.#flush()
    })
  }

  /** Resolves once every write added so far has settled (before the pool closes). */
  idle(): Promise<void> {
    return this.#idle
  }

  async #flush(): Promise<void> {
    this.#busy = true
    this.#idle = new Promise(resolve => (this.#markIdle = resolve))
    while (this.#waiting) {
      const { items, settle } = this.#waiting
      this.#waiting = undefined
      try {
        await this.#write(items)
        for (const one of settle) one.resolve()
      } catch (error) {
        for (const one of settle) one.reject(error)
      }
    }
    this.#busy = false
    this.#markIdle()
  }
}
