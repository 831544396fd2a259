/**
 * Which of this device's messages have reached the server. A message is "saved on this
 * device" from the moment `send` resolves (it is in IndexedDB) until a `client.sync()`
 * that began after it resolves: sync resolves only once the server holds everything this
 * device has. The IDs are kept in localStorage, so a reload (offline too) still shows
 * which messages have not gone out yet.
 */
import type { ParleyClient } from '@parley/client'

const SYNC_TIMEOUT_MS = 15_000
const RETRY_MS = 2_000

export class Outbox {
  readonly #client: ParleyClient
  readonly #key: string
  readonly #pending: Set<string>
  readonly #listeners = new Set<() => void>()
  #running = false
  #again = false
  #retry: ReturnType<typeof setTimeout> | undefined
  #closed = false

  constructor(client: ParleyClient) {
    this.#client = client
    this.#key = `parley.outbox.${client.user}`
    this.#pending = new Set(this.#read())
    client.on('status', this.#onStatus)
    void this.#confirm()
  }

  /** Whether the message was written here and the server has not confirmed it yet. */
  has(id: string): boolean {
    return this.#pending.has(id)
  }

  get size(): number {
    return this.#pending.size
  }

  /** Records a message as unsent the moment it has an ID, before it is saved; `add` it once saved. */
  hold(id: string): void {
    this.#pending.add(id)
    this.#changed()
  }

  /** A saved message: unsent until a sync that begins now resolves. */
  add(id: string): void {
    this.hold(id)
    void this.#confirm()
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener)
    return () => void this.#listeners.delete(listener)
  }

  close(): void {
    this.#closed = true
    clearTimeout(this.#retry)
    this.#client.off('status', this.#onStatus)
    this.#listeners.clear()
  }

  readonly #onStatus = (status: string): void => {
    if (status === 'online') void this.#confirm()
  }

  async #confirm(): Promise<void> {
    if (this.#closed || this.#pending.size === 0 || this.#client.status !== 'online') return
    if (this.#running) {
      this.#again = true
      return
    }
    this.#running = true
    clearTimeout(this.#retry)
    const sent = [...this.#pending]
    try {
      await withTimeout(this.#client.sync({ timeout: SYNC_TIMEOUT_MS }), SYNC_TIMEOUT_MS + 5_000)
      for (const id of sent) this.#pending.delete(id)
      this.#changed()
    } catch {
      // Offline again, or the server is slow: try again later (and at once when back online).
      if (!this.#closed) this.#retry = setTimeout(() => void this.#confirm(), RETRY_MS)
    } finally {
      this.#running = false
    }
    if (this.#again) {
      this.#again = false
      void this.#confirm()
    }
  }

  #read(): string[] {
    try {
      const ids = JSON.parse(localStorage.getItem(this.#key) ?? '[]') as unknown
      return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : []
    } catch {
      return []
    }
  }

  #changed(): void {
    localStorage.setItem(this.#key, JSON.stringify([...this.#pending]))
    for (const listener of [...this.#listeners]) listener()
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms)))
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
