/**
 * JSON values over a ResilientDatabase, for the access registry and the event index.
 * Stored as UTF-8 JSON, the bytes level's own `json` encoding writes, so data
 * directories written before these databases went through the wrapper read the same.
 *
 * With a `prefix`, every key is stored under it: the event index shares the documents'
 * database under EVENTS_PREFIX (databases.ts), so a message's change and its numbering go
 * in one LevelDB batch.
 */
import type { IteratorRange, ResilientDatabase } from './resilient-database.ts'

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const encode = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value))
const decode = <T>(bytes: Uint8Array): T => JSON.parse(decoder.decode(bytes)) as T
/** The first key after every key that starts with `prefix` (its last character raised by one). */
export const keysAfter = (prefix: string): string => prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)

export class JsonDatabase {
  readonly #db: ResilientDatabase
  readonly #prefix: string

  constructor(db: ResilientDatabase, prefix = '') {
    this.#db = db
    this.#prefix = prefix
  }

  async get<T>(key: string): Promise<T | undefined> {
    const bytes = await this.#db.get(this.#prefix + key)
    return bytes === undefined ? undefined : decode<T>(bytes)
  }

  put(key: string, value: unknown): Promise<void> {
    return this.#db.put(this.#prefix + key, encode(value))
  }

  /** Puts `{ key, value }`, deletes `{ key, del: true }`, in one atomic write. */
  batch(ops: ({ key: string; value: unknown } | { key: string; del: true })[]): Promise<void> {
    const prefix = this.#prefix
    return this.#db.batch(ops.map(op => ('del' in op ? { type: 'del', key: prefix + op.key } : { type: 'put', key: prefix + op.key, value: encode(op.value) })))
  }

  /** Values with keys in `range` (under the prefix: a side left open ends where the prefix's keys do). */
  async *values<T>(range: IteratorRange): AsyncGenerator<T> {
    const prefix = this.#prefix
    const { gt, gte, lt, lte, ...order } = range
    const lower = gt !== undefined ? { gt: prefix + gt } : { gte: prefix + (gte ?? '') }
    const upper = lt !== undefined ? { lt: prefix + lt } : lte !== undefined ? { lte: prefix + lte } : prefix ? { lt: keysAfter(prefix) } : {}
    for await (const [, bytes] of this.#db.iterator({ ...order, ...lower, ...upper })) yield decode<T>(bytes)
  }
}
