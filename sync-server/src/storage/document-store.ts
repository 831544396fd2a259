/**
 * The server's document storage: LevelDB under `<data>/db`, through the resilient
 * wrapper (a full disk holds writes instead of losing them) and the checksummed
 * adapter (a corrupt value is reported and skipped, never loaded). Failures are logged
 * and counted; `status()` feeds /healthz, /readyz and the metrics.
 */
import type { StorageAdapterInterface } from '@automerge/automerge-repo'
import { LevelStorageAdapter } from '@parley/core'
import type { FastifyBaseLogger } from 'fastify'
import { Level } from 'level'
import { ResilientDatabase, type ReopenableLevel, type StorageStatus } from './resilient-database.ts'

export interface StorageEvents {
  storageWriteFailed(): void
  storageCorruptValue(): void
}

export interface DocumentStore {
  adapter: StorageAdapterInterface
  status(): StorageStatus
  close(): Promise<void>
}

export async function openDocumentStore(dir: string, options: { retryMs: number; maxHeldBytes: number; log: FastifyBaseLogger; metrics: StorageEvents }): Promise<DocumentStore> {
  const { log, metrics } = options
  const level = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
  await level.open()
  const db = new ResilientDatabase(level as unknown as ReopenableLevel, {
    dir,
    retryMs: options.retryMs,
    maxHeldBytes: options.maxHeldBytes,
    onFailure: error => {
      metrics.storageWriteFailed()
      log.error({ err: error }, 'storage: a write failed; holding writes in memory until the disk takes them again (not ready)')
    },
    onRecovered: ({ writes, downMs }) => log.warn({ writes, downMs }, 'storage: writable again; every held write is on disk (ready)'),
    onRetryFailed: error => log.warn({ err: error }, 'storage: still not writable'),
  })
  const adapter = new LevelStorageAdapter(db, {
    onCorrupt: (key, reason) => {
      metrics.storageCorruptValue()
      log.error({ key: key.join('/'), reason }, 'storage: corrupt value quarantined; the document loads without it and peers resupply what it held')
    },
  })
  return { adapter, status: () => db.status(), close: () => db.close() }
}
