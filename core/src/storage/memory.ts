/**
 * An in-memory automerge-repo storage adapter: for `{ kind: 'memory' }` clients and
 * unit tests. It runs automerge-repo's own storage adapter suite like the real one.
 */
import type { Chunk, StorageAdapterInterface, StorageKey } from '@automerge/automerge-repo'

const SEPARATOR = '\u0000'

export class MemoryStorageAdapter implements StorageAdapterInterface {
  readonly #data = new Map<string, Uint8Array>()

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    return this.#data.get(key.join(SEPARATOR))
  }

  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    this.#data.set(key.join(SEPARATOR), data)
  }

  async remove(key: StorageKey): Promise<void> {
    this.#data.delete(key.join(SEPARATOR))
  }

  async loadRange(prefix: StorageKey): Promise<Chunk[]> {
    const chunks: Chunk[] = []
    for (const [key, data] of this.#data) {
      const parts = key.split(SEPARATOR)
      if (prefix.every((part, i) => parts[i] === part)) chunks.push({ key: parts, data })
    }
    return chunks
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    for (const { key } of await this.loadRange(prefix)) this.#data.delete(key.join(SEPARATOR))
  }
}
