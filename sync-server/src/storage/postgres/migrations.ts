/**
 * Versioned schema migrations, run when a store opens. Each migration runs in its own
 * transaction and records its version in `parley_migrations`; versions already there are
 * skipped. Two nodes starting at once serialize on a session advisory lock, so the second
 * finds the first one's versions recorded and applies nothing twice.
 *
 * Migrations are append-only: a released migration is never edited, a change to the
 * schema is a new version.
 */
import type { PostgresPool } from './pool.ts'

export interface Migration {
  readonly version: number
  readonly name: string
  readonly sql: string
}

/** pg_advisory_lock key: "parley" as an int64 (any constant shared by every node works). */
export const MIGRATION_LOCK_KEY = 0x7061726c6579n

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'automerge-repo storage chunks',
    // key: the StorageKey's parts as UTF-8 joined by a NUL byte (the layout of
    // core/src/storage/level.ts), so a prefix is the byte range [prefix, prefix || 0x01)
    // and loadRange/removeRange are btree range scans. seq: save order, which
    // automerge-repo's adapter suite expects loadRange to return.
    sql: `
      CREATE SEQUENCE parley_chunks_seq;
      CREATE TABLE parley_chunks (
        key bytea PRIMARY KEY,
        seq bigint NOT NULL DEFAULT nextval('parley_chunks_seq'),
        data bytea NOT NULL
      );
      ALTER SEQUENCE parley_chunks_seq OWNED BY parley_chunks.seq;
    `,
  },
]

/** Applies the migrations not yet recorded; returns the versions applied now. */
export async function migrate(pool: PostgresPool, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  checkOrder(migrations)
  return pool.withSession(async session => {
    await session.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()])
    try {
      await session.query(`CREATE TABLE IF NOT EXISTS parley_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`)
      const rows = await session.query<{ version: number }>('SELECT version FROM parley_migrations')
      const applied = new Set(rows.map(row => row.version))
      const known = new Set(migrations.map(migration => migration.version))
      const newer = [...applied].filter(version => !known.has(version))
      if (newer.length > 0) {
        throw new Error(`the database has schema version ${Math.max(...newer)}, newer than this server knows (${Math.max(0, ...known)}): upgrade the server`)
      }
      const done: number[] = []
      for (const migration of migrations) {
        if (applied.has(migration.version)) continue
        await session.query('BEGIN')
        try {
          await session.query(migration.sql)
          await session.query('INSERT INTO parley_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name])
          await session.query('COMMIT')
        } catch (cause) {
          await session.query('ROLLBACK').catch(() => undefined)
          throw new Error(`PostgreSQL migration ${migration.version} (${migration.name}) failed: ${(cause as Error).message}`, { cause })
        }
        done.push(migration.version)
      }
      return done
    } finally {
      await session.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY.toString()]).catch(() => undefined)
    }
  })
}

function checkOrder(migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) throw new Error(`migration versions must run 1, 2, 3 …; found ${migration.version} at position ${index + 1}`)
  })
}
