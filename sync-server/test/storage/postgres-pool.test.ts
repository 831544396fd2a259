/**
 * PostgresPool.write: the writes made in one turn of the event loop go in one round trip
 * and one transaction (a relay core's log write with its events' numbering), each caller
 * getting its own rows; a failing statement fails alone. PostgresPool.prepared: a statement
 * prepared once per connection.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { inlineParameters, PostgresPool } from '../../src/storage/postgres/pool.ts'
import { createTestDatabase } from '../../src/testing.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function pool(): Promise<PostgresPool> {
  const db = await createTestDatabase()
  cleanups.push(() => db.drop())
  const p = new PostgresPool(db.url, { max: 4 })
  cleanups.push(() => p.close())
  await p.query('CREATE TABLE t (k text PRIMARY KEY, v integer NOT NULL)')
  return p
}

const TX = 'SELECT txid_current()::text AS tx, $1::text AS mine'

describe('PostgresPool.write', () => {
  it('sends the writes of one turn as one transaction, each caller getting its own rows', async () => {
    const p = await pool()
    // Sorted by order for the round trip ('a' first), answered to each in its own place.
    const [c, a, b] = await Promise.all([p.write(TX, ['c'], 'c'), p.write(TX, ['a'], 'a'), p.write(TX, ['b'], 'b')])
    expect([a, b, c].map(rows => rows[0]!.mine)).toEqual(['a', 'b', 'c'])
    expect(new Set([a, b, c].map(rows => rows[0]!.tx)).size).toBe(1)
    // A later turn: a transaction of its own.
    const [later] = await p.write(TX, ['d'], 'd')
    expect(later!.tx).not.toBe(a[0]!.tx)
  })

  it('a statement that fails in a shared round trip fails alone; the others are stored', async () => {
    const p = await pool()
    const insert = (k: string, v: number) => p.write('INSERT INTO t (k, v) VALUES ($1, $2)', [k, v], `t ${k}`)
    const results = await Promise.allSettled([insert('a', 1), p.write('INSERT INTO t (k, v) VALUES ($1, $2)', ['b', null], 't b'), insert('c', 3)])
    expect(results.map(result => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: '23502' }) // not-null violation, its own error
    expect(await p.query('SELECT k, v FROM t ORDER BY k')).toEqual([
      { k: 'a', v: 1 },
      { k: 'c', v: 3 },
    ])
  })

  it('writes parameters into the text as the values a parameterised query receives', async () => {
    const p = await pool()
    const sql = 'SELECT $1::text AS s, $2::bytea AS b, $3::text[] AS a, $4::text[] AS e, $5::boolean AS t, $6::int AS n, $7::text AS z, $8::json[] AS j'
    const params = ["it's a \\ back'slash \u00e9 $1", Buffer.from([0, 1, 0xfe, 0xff]), ['x', "y'", 'z\\'], [], true, -42, null, [JSON.stringify({ q: "'\\" })]]
    const [expected] = await p.query(sql, params)
    const [inlined] = await p.query(inlineParameters(sql, params))
    expect(inlined).toEqual(expected)
    // …and through write, sharing a turn with another statement.
    const [[written]] = await Promise.all([p.write(sql, params, 'x'), p.write(TX, ['y'], 'y')])
    expect(written).toEqual(expected)
  })

  it('refuses what it cannot write as a literal', () => {
    expect(() => inlineParameters('SELECT $2', ['a'])).toThrow(/\$2/)
    expect(() => inlineParameters('SELECT $1', [{ a: 1 }])).toThrow(/object/)
    expect(() => inlineParameters('SELECT $1', [Number.NaN])).toThrow(/NaN/)
  })
})

describe('PostgresPool.prepared', () => {
  it('runs a statement prepared once per connection under its name, with each call’s parameters', async () => {
    const db = await createTestDatabase()
    cleanups.push(() => db.drop())
    // One connection: the session whose prepared statements are listed below.
    const p = new PostgresPool(db.url, { max: 1 })
    cleanups.push(() => p.close())
    await p.query('CREATE TABLE t (k text PRIMARY KEY, v integer NOT NULL)')
    await p.query("INSERT INTO t VALUES ('a', 1), ('b', 2)")
    const find = (k: string) => p.prepared<{ v: number }>('t_by_key', 'SELECT v FROM t WHERE k = $1', [k])
    expect(await find('a')).toEqual([{ v: 1 }])
    expect(await find('b')).toEqual([{ v: 2 }])
    expect(await find('c')).toEqual([])
    expect(await p.query('SELECT name, statement FROM pg_prepared_statements')).toEqual([{ name: 't_by_key', statement: 'SELECT v FROM t WHERE k = $1' }])
  })
})
