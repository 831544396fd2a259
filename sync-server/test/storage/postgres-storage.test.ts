import { afterEach, describe, expect, it } from 'vitest'
import { migrate, MIGRATIONS, PostgresPool, PostgresStorageAdapter, type Migration } from '../../src/storage/postgres/index.ts'
import { createTestDatabase, type PostgresTestDatabase } from '../../src/testing.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function database(): Promise<PostgresTestDatabase> {
  const db = await createTestDatabase()
  cleanups.push(() => db.drop())
  return db
}

function pool(url: string, max = 2): PostgresPool {
  const p = new PostgresPool(url, { max })
  cleanups.push(() => p.close())
  return p
}

async function adapter(url: string): Promise<PostgresStorageAdapter> {
  const a = await PostgresStorageAdapter.open(url)
  cleanups.push(() => a.close())
  return a
}

describe('PostgreSQL migrations', () => {
  it('two nodes starting at once apply each version once', async () => {
    const db = await database()
    const [a, b] = [pool(db.url), pool(db.url)]
    const applied = await Promise.all([migrate(a), migrate(b)])
    expect(applied.flat().sort()).toEqual(MIGRATIONS.map(m => m.version))
    expect(await a.query('SELECT version FROM parley_migrations ORDER BY version')).toEqual(MIGRATIONS.map(m => ({ version: m.version })))
    expect(await migrate(a)).toEqual([])
  })

  it('a failing migration leaves neither its changes nor its version behind', async () => {
    const db = await database()
    const p = pool(db.url)
    const broken: Migration[] = [...MIGRATIONS, { version: MIGRATIONS.length + 1, name: 'broken', sql: 'CREATE TABLE parley_half (x int); SELECT no_such_function()' }]
    await expect(migrate(p, broken)).rejects.toThrow(new RegExp(`migration ${MIGRATIONS.length + 1} \\(broken\\) failed`))
    expect(await p.query("SELECT to_regclass('parley_half') AS t")).toEqual([{ t: null }])
    expect(await p.query('SELECT max(version) AS v FROM parley_migrations')).toEqual([{ v: MIGRATIONS.length }])
  })

  it('refuses a database migrated by a newer server', async () => {
    const db = await database()
    const p = pool(db.url)
    await migrate(p, [...MIGRATIONS, { version: MIGRATIONS.length + 1, name: 'future', sql: 'SELECT 1' }])
    await expect(PostgresStorageAdapter.open(db.url)).rejects.toThrow(/newer than this server knows/)
  })
})

describe('PostgresStorageAdapter', () => {
  it('a prefix holds its own keys only, never a sibling that starts with the same characters', async () => {
    const db = await database()
    const a = await adapter(db.url)
    await a.save(['doc', 'incremental', 'h1'], Uint8Array.of(1))
    await a.save(['doc'], Uint8Array.of(2))
    await a.save(['doc2', 'incremental', 'h1'], Uint8Array.of(3))
    await a.save(['do'], Uint8Array.of(4))
    expect((await a.loadRange(['doc'])).map(c => c.key)).toEqual([['doc', 'incremental', 'h1'], ['doc']])
    await a.removeRange(['doc'])
    expect((await a.loadRange([])).map(c => c.key)).toEqual([['doc2', 'incremental', 'h1'], ['do']])
  })

  it('saving a chunk twice keeps one row (appends are idempotent)', async () => {
    const db = await database()
    const a = await adapter(db.url)
    await Promise.all([a.save(['d', 'incremental', 'h'], Uint8Array.of(7)), a.save(['d', 'incremental', 'h'], Uint8Array.of(7))])
    expect(await pool(db.url).query('SELECT count(*)::int AS n FROM parley_chunks')).toEqual([{ n: 1 }])
  })

  it('loadRange and removeRange are index range scans', async () => {
    const db = await database()
    await adapter(db.url)
    const p = pool(db.url, 1)
    await p.query('SET enable_seqscan = off')
    const plan = async (sql: string) => (await p.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`)).map(r => r['QUERY PLAN']).join('\n')
    expect(await plan("SELECT key, data FROM parley_chunks WHERE key >= '\\x61'::bytea AND key < '\\x6101'::bytea ORDER BY seq")).toMatch(/Index.*parley_chunks_pkey/)
    expect(await plan("DELETE FROM parley_chunks WHERE key >= '\\x61'::bytea AND key < '\\x6101'::bytea")).toMatch(/Index.*parley_chunks_pkey/)
  })

  it('rejects a key part holding NUL with a clear error', async () => {
    const db = await database()
    const a = await adapter(db.url)
    await expect(a.save(['a\u0000b'], Uint8Array.of(1))).rejects.toMatchObject({ code: 'PARLEY_ERR_INVALID_DOCUMENT' })
  })
})

describe('createTestDatabase', () => {
  it('starts a private PostgreSQL when asked (PARLEY_TEST_POSTGRES=private) and stops it on drop', async () => {
    const saved = process.env.PARLEY_TEST_POSTGRES
    process.env.PARLEY_TEST_POSTGRES = 'private'
    let db: PostgresTestDatabase
    try {
      db = await createTestDatabase()
    } finally {
      if (saved === undefined) delete process.env.PARLEY_TEST_POSTGRES
      else process.env.PARLEY_TEST_POSTGRES = saved
    }
    expect(new URL(db.url).port).not.toBe('5432')
    const a = await PostgresStorageAdapter.open(db.url)
    await a.save(['x'], Uint8Array.of(9))
    expect(await a.load(['x'])).toEqual(Uint8Array.of(9))
    await a.close()
    await db.drop()
    await expect(PostgresStorageAdapter.open(db.url)).rejects.toThrow()
  })
})
