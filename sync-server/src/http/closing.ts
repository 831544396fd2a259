/**
 * The server's close as what would hold it sees it: SSE streams, long polls, blob
 * downloads and connections that never began a request (unused-connections.ts) each
 * register how they end, and all end as the close begins (Fastify's `preClose`). The
 * close otherwise waits for them: an `EventSource` never leaves, and a download whose
 * reader stopped reading never finishes.
 * (A plain callback set: an AbortSignal warns past 10 listeners unless raised with
 * setMaxListeners, which a test environment's own AbortSignal, jsdom's, refuses.)
 */
import type { FastifyInstance } from 'fastify'

export class Closing {
  #closed = false
  readonly #ends = new Set<() => void>()

  get closed(): boolean {
    return this.#closed
  }

  /** Calls `end` once the server begins to close; returns what takes it off. */
  onClose(end: () => void): () => void {
    this.#ends.add(end)
    return () => void this.#ends.delete(end)
  }

  close(): void {
    this.#closed = true
    const ends = [...this.#ends]
    this.#ends.clear()
    for (const end of ends) end()
  }
}

/** A Closing that `app`'s close sets off. */
export function closingOf(app: FastifyInstance): Closing {
  const closing = new Closing()
  app.addHook('preClose', async () => closing.close())
  return closing
}
