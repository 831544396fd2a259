import type { StorageAdapterInterface } from '@automerge/automerge-repo/slim'
import { closableStorage, LevelStorageAdapter, MemoryStorageAdapter, type ClosableStorage, type LevelDatabase } from '@parley/core'

export type StorageOption =
  | { kind: 'memory' }
  /** LevelDB in Node; `level` resolves to IndexedDB (browser-level) in browsers. */
  | { kind: 'level'; dir: string }
  | { kind: 'indexeddb'; name?: string }
  | { kind: 'custom'; adapter: StorageAdapterInterface }

export type OpenStorage = ClosableStorage

export async function openStorage(option: StorageOption): Promise<OpenStorage> {
  if (option.kind === 'memory') return { adapter: new MemoryStorageAdapter(), close: async () => {} }
  if (option.kind === 'custom') return { adapter: option.adapter, close: async () => {} }
  // Loaded on demand so a memory-only bundle never pulls in LevelDB.
  const { Level } = await import('level')
  const location = option.kind === 'level' ? option.dir : (option.name ?? 'parley')
  const db = new Level<string, Uint8Array>(location, { valueEncoding: 'view' })
  await db.open()
  return closableStorage(new LevelStorageAdapter(db as unknown as LevelDatabase), () => db.close())
}
