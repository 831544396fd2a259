/**
 * What a device remembers besides documents, kept in the same storage adapter under
 * `['parley', …]` keys: its device ID, the conversations it knows, and its outbox: its
 * clock and the documents it changed that the server has not yet confirmed (so a later
 * process loads and syncs them even if nothing else would open them).
 *
 * A send writes the outbox once (clock and pending together); a confirmation's removal is
 * written a moment later, or with the next send, so a conversation in use costs one write
 * per message, not three (each is an IndexedDB transaction in a browser). A removal lost
 * to a crash only makes the next start sync a document that was already in sync. With
 * memory storage nothing is written after the start: no later process reads that adapter
 * (storage.ts), and the outbox cost each send a JSON encoding and a save (issue 15).
 */
import type { StorageAdapterInterface } from '@automerge/automerge-repo/slim'
import { randomId } from '@parley/core'

const encoder = new TextEncoder()
const decoder = new TextDecoder()
/** How long a confirmation's removal from the outbox waits for a send to carry it. */
const REMOVAL_DELAY_MS = 1000

interface Outbox {
  pending: string[]
  clock: number
}

export class LocalState {
  readonly device: string
  readonly conversations: Set<string>
  readonly pending: Set<string>
  clockLast: number
  readonly #storage: StorageAdapterInterface
  readonly #persist: boolean
  #removal: ReturnType<typeof setTimeout> | undefined

  private constructor(storage: StorageAdapterInterface, persist: boolean, state: { device: string; conversations: string[]; pending: string[]; clockLast: number }) {
    this.#storage = storage
    this.#persist = persist
    this.device = state.device
    this.conversations = new Set(state.conversations)
    this.pending = new Set(state.pending)
    this.clockLast = state.clockLast
  }

  /** `persist: false`: the state lives in memory only once loaded (memory storage). */
  static async load(storage: StorageAdapterInterface, persist = true): Promise<LocalState> {
    const read = async <T>(name: string, fallback: T): Promise<T> => {
      const bytes = await storage.load(['parley', name])
      return bytes ? (JSON.parse(decoder.decode(bytes)) as T) : fallback
    }
    let device = await read<string | undefined>('device', undefined)
    if (!device) {
      device = randomId()
      await storage.save(['parley', 'device'], encoder.encode(JSON.stringify(device)))
    }
    // Before the outbox, the pending set and the clock had a key each.
    const outbox = await read<Outbox | undefined>('outbox', undefined)
    return new LocalState(storage, persist, {
      device,
      conversations: await read<string[]>('conversations', []),
      pending: outbox?.pending ?? (await read<string[]>('pending', [])),
      clockLast: outbox?.clock ?? (await read<number>('clock', 0)),
    })
  }

  async addConversation(id: string): Promise<void> {
    if (this.conversations.has(id)) return
    this.conversations.add(id)
    await this.#write('conversations', [...this.conversations])
  }

  async addPending(ids: string[], clockLast: number): Promise<void> {
    for (const id of ids) this.pending.add(id)
    this.clockLast = clockLast
    await this.#writeOutbox()
  }

  removePending(id: string): void {
    if (!this.pending.delete(id) || this.#removal || !this.#persist) return
    this.#removal = setTimeout(() => void this.#writeOutbox(), REMOVAL_DELAY_MS)
    this.#removal.unref?.()
  }

  /** Writes a removal still waiting (the client is closing). */
  async flush(): Promise<void> {
    if (this.#removal) await this.#writeOutbox()
  }

  #writeOutbox(): Promise<void> {
    clearTimeout(this.#removal)
    this.#removal = undefined
    return this.#write('outbox', { pending: [...this.pending], clock: this.clockLast } satisfies Outbox)
  }

  #write(name: string, value: unknown): Promise<void> {
    if (!this.#persist) return Promise.resolve()
    return this.#storage.save(['parley', name], encoder.encode(JSON.stringify(value)))
  }
}
