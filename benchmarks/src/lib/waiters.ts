/**
 * Conditions a load-generator connection waits on (lib/replay-connection.ts,
 * fanout/automerge-peer.ts): each is checked at once and whenever the connection says
 * something changed (`wake`), and rejected once the connection fails or the wait times out.
 */
export class Waiters {
  readonly #checks = new Set<() => void>()
  #failure: Error | undefined

  get failure(): Error | undefined {
    return this.#failure
  }

  /** Resolves once `test()` holds; rejects with the connection's failure, or after `timeoutMs` with `timedOut`. */
  until(test: () => boolean, timeoutMs: number, timedOut: () => Error): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => settle(timedOut()), timeoutMs)
      const settle = (error?: Error) => {
        clearTimeout(timer)
        this.#checks.delete(check)
        if (error) reject(error)
        else resolve()
      }
      const check = () => (this.#failure ? settle(this.#failure) : test() ? settle() : undefined)
      this.#checks.add(check)
      check()
    })
  }

  /** Checks every waiting condition again. */
  wake(): void {
    for (const check of [...this.#checks]) check()
  }

  /** The connection failed (the first failure is kept): every wait rejects with it. */
  fail(error: Error): void {
    this.#failure ??= error
    this.wake()
  }
}
