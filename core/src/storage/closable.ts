import type { StorageAdapterInterface } from '@automerge/automerge-repo'

export interface ClosableStorage {
  adapter: StorageAdapterInterface
  close(): Promise<void>
}

/**
 * automerge-repo's throttled saves can fire after its owner flushed and closed the
 * database. They only repeat what the flush wrote, so once closed, writes are dropped
 * instead of failing on a closed database.
 */
export function closableStorage(adapter: StorageAdapterInterface, close: () => Promise<void>): ClosableStorage {
  let closed = false
  return {
    adapter: {
      load: key => adapter.load(key),
      loadRange: prefix => adapter.loadRange(prefix),
      save: async (key, data) => (closed ? undefined : adapter.save(key, data)),
      remove: async key => (closed ? undefined : adapter.remove(key)),
      removeRange: async prefix => (closed ? undefined : adapter.removeRange(prefix)),
    },
    close: () => {
      closed = true
      return close()
    },
  }
}
