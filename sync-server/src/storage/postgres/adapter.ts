/**
 * automerge-repo storage on PostgreSQL: the multi-node counterpart of
 * core/src/storage/level.ts, passing the same shared suite (automerge-repo's
 * runStorageAdapterTests). One row per storage key in `parley_chunks` (migrations.ts).
 *
 * A save is an upsert, so writing the same chunk twice (a retried flush, two nodes
 * storing one change) leaves one row. Each save takes a fresh `seq`, and loadRange returns
 * rows in `seq` order: the order they were saved, as with the LevelDB adapter.
 */
import { CoreErrorCodes, ParleyError } from '@parley/core'
import type { Chunk, StorageAdapterInterface, StorageKey } from '@automerge/automerge-repo'
import { migrate } from './migrations.ts'
import { bytes, PostgresPool, type PostgresPoolOptions } from './pool.ts'

const SEPARATOR = 0x00
const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeKey(key: StorageKey): Buffer {
  const parts = key.map(part => {
    if (part.includes('\u0000')) throw new ParleyError(CoreErrorCodes.INVALID_DOCUMENT, 'a storage key part contains NUL')
    return encoder.encode(part)
  })
  const out = Buffer.alloc(parts.reduce((sum, part) => sum + part.length, 0) + Math.max(0, parts.length - 1))
  let offset = 0
  parts.forEach((part, index) => {
    if (index > 0) out[offset++] = SEPARATOR
    out.set(part, offset)
    offset += part.length
  })
  return out
}

export function decodeKey(value: Uint8Array): StorageKey {
  return decoder.decode(value).split('\u0000')
}

/** [gte, lt) holding the prefix itself and every key continuing it with a separator. */
function prefixBounds(prefix: StorageKey): [Buffer, Buffer] {
  const start = encodeKey(prefix)
  return [start, Buffer.concat([start, Buffer.of(SEPARATOR + 1)])]
}

export class PostgresStorageAdapter implements StorageAdapterInterface {
  readonly #pool: PostgresPool
  readonly #ownsPool: boolean

  /** Over a pool whose database is already migrated (see `open` to do both). */
  constructor(pool: PostgresPool, options: { ownsPool?: boolean } = {}) {
    this.#pool = pool
    this.#ownsPool = options.ownsPool ?? false
  }

  /** Connects to `url`, runs the migrations, and returns an adapter that closes the pool. */
  static async open(url: string, options: PostgresPoolOptions = {}): Promise<PostgresStorageAdapter> {
    const pool = new PostgresPool(url, options)
    try {
      await migrate(pool)
    } catch (error) {
      await pool.close()
      throw error
    }
    return new PostgresStorageAdapter(pool, { ownsPool: true })
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    const rows = await this.#pool.query('SELECT data FROM parley_chunks WHERE key = $1', [encodeKey(key)])
    return rows[0] === undefined ? undefined : bytes(rows[0].data)
  }

  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    const encoded = encodeKey(key)
    // With the other writes of this turn (pool.ts `write`): a relay core's log write goes
    // with its events' numbering, in one round trip.
    await this.#pool.write(
      `INSERT INTO parley_chunks (key, data) VALUES ($1, $2)
       ON CONFLICT (key) DO UPDATE SET data = excluded.data, seq = excluded.seq`,
      [encoded, Buffer.from(data.buffer, data.byteOffset, data.byteLength)],
      `2 chunk ${encoded.toString('hex')}`,
    )
  }

  async remove(key: StorageKey): Promise<void> {
    await this.#pool.query('DELETE FROM parley_chunks WHERE key = $1', [encodeKey(key)])
  }

  async loadRange(prefix: StorageKey): Promise<Chunk[]> {
    const rows =
      prefix.length === 0
        ? await this.#pool.query('SELECT key, data FROM parley_chunks ORDER BY seq')
        : await this.#pool.query('SELECT key, data FROM parley_chunks WHERE key >= $1 AND key < $2 ORDER BY seq', prefixBounds(prefix))
    return rows.map(row => ({ key: decodeKey(bytes(row.key)), data: bytes(row.data) }))
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    if (prefix.length === 0) await this.#pool.query('DELETE FROM parley_chunks')
    else await this.#pool.query('DELETE FROM parley_chunks WHERE key >= $1 AND key < $2', prefixBounds(prefix))
  }

  async close(): Promise<void> {
    if (this.#ownsPool) await this.#pool.close()
  }
}
