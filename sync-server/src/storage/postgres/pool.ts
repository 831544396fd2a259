/**
 * The one module that reaches into node-postgres (`pg`): a pool with the few operations
 * the PostgreSQL stores need, so the rest of the server never sees the driver's types.
 * Byte columns come back as Buffers; callers get Uint8Arrays over the same memory.
 */
import pg from 'pg'

export interface PostgresPoolOptions {
  /** Connections kept at most (node-postgres default: 10). */
  readonly max?: number
  /** Name shown in pg_stat_activity. */
  readonly applicationName?: string
  /** Called with errors of idle connections (a restarted server); the pool replaces them. */
  readonly onIdleError?: (error: Error) => void
}

export type Row = Record<string, unknown>

/** One connection held for a sequence of statements (a transaction, a session lock). */
export interface PostgresSession {
  query<R extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<R[]>
}

export class PostgresPool {
  readonly #pool: pg.Pool
  #closed = false

  constructor(url: string, options: PostgresPoolOptions = {}) {
    this.#pool = new pg.Pool({ connectionString: url, max: options.max ?? 10, application_name: options.applicationName ?? 'parley-server' })
    // Without a listener, an idle connection's error (the server restarting) would end the process.
    this.#pool.on('error', error => options.onIdleError?.(error))
  }

  async query<R extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<R[]> {
    const result = await this.#pool.query<R>(sql, params as unknown[])
    return result.rows
  }

  /** Runs `body` on one connection, released (and discarded if it broke) afterwards. */
  async withSession<T>(body: (session: PostgresSession) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect()
    let broken: Error | undefined
    try {
      return await body({
        query: async <R extends Row>(sql: string, params: readonly unknown[] = []) => (await client.query<R>(sql, params as unknown[])).rows,
      })
    } catch (error) {
      broken = error instanceof Error ? error : new Error(String(error))
      throw error
    } finally {
      // A connection whose statement failed outside a transaction is still usable, but one
      // that lost its socket is not: release(error) destroys it rather than pooling it.
      client.release(broken !== undefined && isConnectionError(broken) ? broken : undefined)
    }
  }

  /** Runs `body` in a transaction: committed when it resolves, rolled back when it throws. */
  async transaction<T>(body: (session: PostgresSession) => Promise<T>): Promise<T> {
    return this.withSession(async session => {
      await session.query('BEGIN')
      try {
        const result = await body(session)
        await session.query('COMMIT')
        return result
      } catch (error) {
        await session.query('ROLLBACK').catch(() => undefined)
        throw error
      }
    })
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#pool.end()
  }
}

function isConnectionError(error: Error): boolean {
  const code = (error as { code?: unknown }).code
  // Class 08: connection exception; 57P01..57P03: the server shutting down or starting.
  return typeof code !== 'string' || code.startsWith('08') || code.startsWith('57P')
}

/** A Uint8Array view of a bytea value (node-postgres returns Buffers). */
export function bytes(value: unknown): Uint8Array {
  const buffer = value as Buffer
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
}
