import type { StorageAdapterInterface } from '@automerge/automerge-repo/slim'
import { closableStorage, LevelStorageAdapter, MemoryStorageAdapter, type ClosableStorage, type LevelDatabase } from '@parley/core'

export type StorageOption =
  | { kind: 'memory' }
  /** LevelDB in Node; `level` resolves to IndexedDB (browser-level) in browsers. */
  | { kind: 'level'; dir: string }
  | { kind: 'indexeddb'; name?: string }
  | { kind: 'custom'; adapter: StorageAdapterInterface }

export interface OpenStorage extends ClosableStorage {
  /**
   * Whether the repo keeps documents in `adapter` too. Not for memory storage: the repo
   * already holds every document it has in memory for as long as the client lives, and a
   * memory adapter dies with it, so nothing would ever read those bytes back; saving them
   * cost each change a save (and the growing document a compaction now and then: issue 15,
   * item 5). For the same reason the device's own state is not written after the start,
   * and the search index is kept in memory only (local-state.ts, search/search-index.ts);
   * files stay in `adapter`, where this session reads them back.
   */
  documents: boolean
}

export async function openStorage(option: StorageOption): Promise<OpenStorage> {
  if (option.kind === 'memory') return { adapter: new MemoryStorageAdapter(), close: async () => {}, documents: false }
  if (option.kind === 'custom') return { adapter: option.adapter, close: async () => {}, documents: true }
  // Loaded on demand so a memory-only bundle never pulls in LevelDB.
  const { Level } = await import('level')
  const location = option.kind === 'level' ? option.dir : (option.name ?? 'parley')
  const db = new Level<string, Uint8Array>(location, { valueEncoding: 'view' })
  await db.open()
  return { ...closableStorage(new LevelStorageAdapter(db as unknown as LevelDatabase), () => db.close()), documents: true }
}
