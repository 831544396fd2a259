export { PostgresStorageAdapter } from './adapter.ts'
export { migrate, MIGRATIONS, MIGRATION_LOCK_KEY, type Migration } from './migrations.ts'
export { PostgresPool, type PostgresPoolOptions, type PostgresSession } from './pool.ts'
