/** A storage adapter that times every operation of the one it wraps into `parley_leveldb_operation_seconds`. */
import type { StorageAdapterInterface } from '@automerge/automerge-repo'
import type { ServerMetrics } from './metrics.ts'

export function instrumentStorage(adapter: StorageAdapterInterface, metrics: Pick<ServerMetrics, 'timeStorage'>): StorageAdapterInterface {
  return {
    load: key => metrics.timeStorage('load', adapter.load(key)),
    save: (key, data) => metrics.timeStorage('save', adapter.save(key, data)),
    remove: key => metrics.timeStorage('remove', adapter.remove(key)),
    loadRange: prefix => metrics.timeStorage('loadRange', adapter.loadRange(prefix)),
    removeRange: prefix => metrics.timeStorage('removeRange', adapter.removeRange(prefix)),
  }
}
