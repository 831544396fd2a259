/**
 * JSON values over a ResilientDatabase, for the access registry and the event index.
 * Stored as UTF-8 JSON, the bytes level's own `json` encoding writes, so data
 * directories written before these databases went through the wrapper read the same.
 */
import type { IteratorRange, ResilientDatabase } from './resilient-database.ts'

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const encode = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value))
const decode = <T>(bytes: Uint8Array): T => JSON.parse(decoder.decode(bytes)) as T

export class JsonDatabase {
  readonly #db: ResilientDatabase

  constructor(db: ResilientDatabase) {
    this.#db = db
  }

  async get<T>(key: string): Promise<T | undefined> {
    const bytes = await this.#db.get(key)
    return bytes === undefined ? undefined : decode<T>(bytes)
  }

  put(key: string, value: unknown): Promise<void> {
    return this.#db.put(key, encode(value))
  }

  /** Puts `{ key, value }`, deletes `{ key, del: true }`, in one atomic write. */
  batch(ops: ({ key: string; value: unknown } | { key: string; del: true })[]): Promise<void> {
    return this.#db.batch(ops.map(op => ('del' in op ? { type: 'del', key: op.key } : { type: 'put', key: op.key, value: encode(op.value) })))
  }

  async *values<T>(range: IteratorRange): AsyncGenerator<T> {
    for await (const [, bytes] of this.#db.iterator(range)) yield decode<T>(bytes)
  }
}
