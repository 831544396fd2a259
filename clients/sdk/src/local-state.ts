/**
 * What a device remembers besides documents, kept in the same storage adapter under
 * `['parley', …]` keys: its device ID, its clock, the conversations it knows, and the
 * documents it changed that the server has not yet confirmed (so a later process
 * loads and syncs them even if nothing else would open them).
 */
import type { StorageAdapterInterface } from '@automerge/automerge-repo/slim'
import { randomId } from '@parley/core'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export class LocalState {
  readonly device: string
  readonly conversations: Set<string>
  readonly pending: Set<string>
  clockLast: number
  readonly #storage: StorageAdapterInterface

  private constructor(storage: StorageAdapterInterface, state: { device: string; conversations: string[]; pending: string[]; clockLast: number }) {
    this.#storage = storage
    this.device = state.device
    this.conversations = new Set(state.conversations)
    this.pending = new Set(state.pending)
    this.clockLast = state.clockLast
  }

  static async load(storage: StorageAdapterInterface): Promise<LocalState> {
    const read = async <T>(name: string, fallback: T): Promise<T> => {
      const bytes = await storage.load(['parley', name])
      return bytes ? (JSON.parse(decoder.decode(bytes)) as T) : fallback
    }
    let device = await read<string | undefined>('device', undefined)
    if (!device) {
      device = randomId()
      await storage.save(['parley', 'device'], encoder.encode(JSON.stringify(device)))
    }
    return new LocalState(storage, {
      device,
      conversations: await read<string[]>('conversations', []),
      pending: await read<string[]>('pending', []),
      clockLast: await read<number>('clock', 0),
    })
  }

  async addConversation(id: string): Promise<void> {
    if (this.conversations.has(id)) return
    this.conversations.add(id)
    await this.#write('conversations', [...this.conversations])
  }

  async addPending(ids: string[], clockLast: number): Promise<void> {
    const before = this.pending.size
    for (const id of ids) this.pending.add(id)
    this.clockLast = clockLast
    await Promise.all([
      this.pending.size !== before ? this.#write('pending', [...this.pending]) : undefined,
      this.#write('clock', clockLast),
    ])
  }

  async removePending(id: string): Promise<void> {
    if (this.pending.delete(id)) await this.#write('pending', [...this.pending])
  }

  #write(name: string, value: unknown): Promise<void> {
    return this.#storage.save(['parley', name], encoder.encode(JSON.stringify(value)))
  }
}
