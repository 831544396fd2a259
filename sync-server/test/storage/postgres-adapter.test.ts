import { runStorageAdapterTests } from '@automerge/automerge-repo/helpers/tests/storage-adapter-tests.js'
import { afterAll, beforeAll } from 'vitest'
import { PostgresPool, PostgresStorageAdapter } from '../../src/storage/postgres/index.ts'
import { createTestDatabase, type PostgresTestDatabase } from '../../src/testing.ts'

// Real PostgreSQL (PARLEY_TEST_POSTGRES or a private server): one database for this file,
// emptied before each of the suite's tests, dropped at the end.
let database: PostgresTestDatabase
let cleaner: PostgresPool

beforeAll(async () => {
  database = await createTestDatabase()
  await (await PostgresStorageAdapter.open(database.url)).close() // runs the migrations
  cleaner = new PostgresPool(database.url, { max: 1 })
})

afterAll(async () => {
  await cleaner?.close()
  await database?.drop()
})

runStorageAdapterTests(async () => {
  await cleaner.query('TRUNCATE parley_chunks')
  const adapter = await PostgresStorageAdapter.open(database.url)
  return { adapter, teardown: () => adapter.close() }
}, 'PostgresStorageAdapter')
