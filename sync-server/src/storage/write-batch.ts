/**
 * Coalesces writes made while one is out into the next one. A PostgreSQL round trip costs
 * about ten LevelDB writes, so the registry and the webhook queue write whatever arrived
 * meanwhile as one multi-row INSERT; a LevelDB write costs a thread-pool round trip, so
 * the LevelDB databases write whatever arrived meanwhile as one batch
 * (resilient-database.ts). The first write goes at once (no timer, no added latency when
 * idle), or with `endOfTurn` at the end of the turn of the event loop it was added in
 * (setImmediate), so what one message writes in its turn goes together: its change and
 * its numbering, one LevelDB batch. Each caller's promise settles with the write that
 * carried its items.
 */
export class WriteBatch<T> {
  readonly #write: (items: T[]) => Promise<void>
  #waiting: { items: T[]; settle: Array<{ resolve: () => void; reject: (error: unknown) => void }> } | undefined
  #busy = false
  #idle: Promise<void> = Promise.resolve()
  #markIdle: () => void = () => {}
  readonly #endOfTurn: boolean

  constructor(write: (items: T[]) => Promise<void>, options: { endOfTurn?: boolean } = {}) {
    this.#write = write
    this.#endOfTurn = options.endOfTurn === true
  }

  add(items: readonly T[]): Promise<void> {
    if (items.length === 0) return Promise.resolve()
    return new Promise((resolve, reject) => {
      this.#waiting ??= { items: [], settle: [] }
      this.#waiting.items.push(...items)
      this.#waiting.settle.push({ resolve, reject })
      if (this.#busy) return
      this.#busy = true
      this.#idle = new Promise(resolve => (this.#markIdle = resolve))
      if (this.#endOfTurn) setImmediate(() => void this.#flush())
      else void this.#flush()
    })
  }

  /** Resolves once every write added so far has settled (before the pool closes). */
  idle(): Promise<void> {
    return this.#idle
  }

  async #flush(): Promise<void> {
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
