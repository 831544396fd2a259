/**
 * Calls made in one turn of the event loop, handed on together once it ends (setImmediate):
 * the pool's writes (pool.ts `write`: one round trip, one commit) and the event store's
 * event-ID lookups (event-store.ts `seqOf`: one query). The first call of a turn waits for
 * the turn's end only, never for a timer.
 */
export class TurnBatch<T> {
  readonly #send: (items: T[]) => void
  #items: T[] | undefined

  constructor(send: (items: T[]) => void) {
    this.#send = send
  }

  add(item: T): void {
    if (!this.#items) {
      const items: T[] = (this.#items = [])
      setImmediate(() => {
        this.#items = undefined
        this.#send(items)
      })
    }
    this.#items.push(item)
  }
}
