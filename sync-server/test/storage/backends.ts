/**
 * The two storage backends, opened the way the server opens them (storage/databases.ts),
 * for suites that run once on each: LevelDB under a temporary directory, and PostgreSQL
 * in a database of its own (createTestDatabase), dropped at close.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDatabases, type Databases } from '../../src/storage/databases.ts'
import { createTestDatabase } from '../../src/testing.ts'

export const BACKENDS = ['LevelDB', 'PostgreSQL'] as const
export type Backend = (typeof BACKENDS)[number]

export interface OpenBackend {
  databases: Databases
  /** The PostgreSQL URL (PostgreSQL only): open more "nodes" on the same database. */
  url?: string
  close(): Promise<void>
}

export async function openBackend(backend: Backend): Promise<OpenBackend> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-backend-'))
  const database = backend === 'PostgreSQL' ? await createTestDatabase() : undefined
  const databases = await openDatabases(dir, { retryMs: 1000, maxHeldBytes: 1024 * 1024, minFreeBytes: 0, postgres: database?.url })
  return {
    databases,
    ...(database && { url: database.url }),
    async close() {
      await databases.close()
      await database?.drop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
