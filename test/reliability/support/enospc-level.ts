/**
 * For machines where the test may not mount a small filesystem: a classic-level database
 * whose writes fail, while `full` is set, with the error LevelDB itself raises on a full
 * disk (resilient-database.test.ts proves the two match where it can mount one).
 */
import type { ReopenableLevel } from '@parley/sync-server/testing'

export function enospcError(path: string): Error & { code: string } {
  return Object.assign(new Error(`IO error: ${path}/000003.log: No space left on device`), { code: 'LEVEL_IO_ERROR' })
}

export function enospcLevel(db: ReopenableLevel & { location: string }): ReopenableLevel & { full: boolean } {
  const failing = <A extends unknown[]>(write: (...args: A) => Promise<void>) =>
    async (...args: A): Promise<void> => {
      if (wrapper.full) throw enospcError(db.location)
      return write(...args)
    }
  const wrapper = {
    full: false,
    get status() {
      return db.status
    },
    open: () => db.open(),
    close: () => db.close(),
    get: (key: string) => db.get(key),
    iterator: (range: Parameters<ReopenableLevel['iterator']>[0]) => db.iterator(range),
    put: failing((key: string, value: Uint8Array) => db.put(key, value)),
    del: failing((key: string) => db.del(key)),
    batch: failing((ops: Parameters<ReopenableLevel['batch']>[0]) => db.batch(ops)),
    clear: failing((range: Parameters<ReopenableLevel['clear']>[0]) => db.clear(range)),
  }
  return wrapper
}
