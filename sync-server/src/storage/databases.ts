/**
 * The server's two LevelDB databases under the data directory, each through the
 * resilient wrapper (a full disk holds writes instead of losing them):
 *
 * - `db`: the documents, through the checksummed adapter (a corrupt value is reported
 *   and skipped, never loaded), and under EVENTS_PREFIX the event index
 *   (events/event-index.ts), so a message's change and its numbering are one write (an
 *   `events` database of its own, from data written before 2026-12-08, is moved in:
 *   merge-events.ts);
 * - `acl`: the access registry (access/registry.ts).
 *
 * Failures are logged and counted; `status()` feeds /healthz, /readyz and the metrics.
 *
 * With `postgres`, all three live in that PostgreSQL database instead, shared by every
 * node given the same URL (storage/postgres/, migrated at open), and no LevelDB is
 * opened: the documents (automerge-repo storage), the registry and the event index with
 * one sequence per conversation for the whole cluster. The webhook queue uses the same
 * pool (`postgres`; webhooks/postgres-dispatcher.ts).
 */
import type { StorageAdapterInterface } from '@automerge/automerge-repo'
import { LevelStorageAdapter } from '@parley/core'
import type { FastifyBaseLogger } from 'fastify'
import { Level } from 'level'
import { join, resolve } from 'node:path'
import { ParleyError, ServerErrorCodes } from '../errors.ts'
import { watchFreeSpace } from './free-space.ts'
import { migrate, PostgresEventStore, PostgresPool, PostgresRegistryStore, PostgresStorageAdapter } from './postgres/index.ts'
import type { RegistryStore } from '../access/registry.ts'
import type { EventStore } from '../events/event-index.ts'
import { JsonDatabase } from './json-database.ts'
import { EVENTS_PREFIX, LevelEventStore } from './level-event-store.ts'
import { LevelRegistryStore } from './level-registry-store.ts'
import { mergeEventsDatabase } from './merge-events.ts'
import { ResilientDatabase, type ReopenableLevel, type StorageStatus } from './resilient-database.ts'

export interface StorageEvents {
  storageWriteFailed(): void
  storageCorruptValue(): void
}

export interface DatabaseOptions {
  retryMs: number
  /** Per database. */
  maxHeldBytes: number
  minFreeBytes: number
  /** `postgres://…`: documents, registry and event index in PostgreSQL rather than LevelDB. */
  postgres?: string | undefined
  /** Absent in tests that open the databases without a server. */
  log?: FastifyBaseLogger
  metrics?: StorageEvents
}

export interface Databases {
  documents: StorageAdapterInterface
  registry: RegistryStore
  events: EventStore
  /** The PostgreSQL pool the stores share, when opened with `postgres`. */
  postgres?: PostgresPool
  /** Without `postgres`: the registry's LevelDB (`acl`), where push/ keeps each user's push subscriptions too. */
  registryDb?: JsonDatabase
  /** Not writable while any database holds writes or free space is below the minimum. */
  status(): StorageStatus & { freeBytes: number }
  close(): Promise<void>
}

export async function openDatabases(dataDir: string, options: DatabaseOptions): Promise<Databases> {
  const { log, metrics } = options
  const postgres = options.postgres === undefined ? undefined : await openPostgres(options.postgres, log)
  const databases = postgres ? [] : await Promise.all(['db', 'acl'].map(name => openResilient(join(dataDir, name), name, options)))
  const [db, acl] = databases as [ResilientDatabase, ResilientDatabase]
  if (!postgres) {
    await mergeEventsDatabase(dataDir, db, log).catch(async error => {
      await Promise.all(databases.map(one => one.close()))
      throw error
    })
  }
  const postgresRegistry = postgres && new PostgresRegistryStore(postgres)
  const registryDb = postgres ? undefined : new JsonDatabase(acl)
  const stores = postgres
    ? { documents: new PostgresStorageAdapter(postgres), registry: postgresRegistry!, events: new PostgresEventStore(postgres) }
    : {
        documents: new LevelStorageAdapter(db, {
          onCorrupt: (key, reason) => {
            metrics?.storageCorruptValue()
            log?.error({ key: key.join('/'), reason }, 'storage: corrupt value quarantined; the document loads without it and peers resupply what it held')
          },
        }),
        registry: new LevelRegistryStore(registryDb!),
        events: new LevelEventStore(new JsonDatabase(db, EVENTS_PREFIX)),
      }
  const space = watchFreeSpace(dataDir, {
    minBytes: options.minFreeBytes,
    everyMs: Math.max(options.retryMs, 1000),
    onLow: bytes => log?.error({ freeBytes: bytes, minFreeBytes: options.minFreeBytes }, 'storage: free space under the data directory is below the minimum (not ready)'),
    onRecovered: bytes => log?.warn({ freeBytes: bytes }, 'storage: free space is back above the minimum'),
  })
  const status = (): StorageStatus & { freeBytes: number } => {
    const each = databases.map(db => db.status())
    const failing = each.find(one => !one.writable)
    const held = {
      writable: failing === undefined,
      ...(failing && { problem: failing.problem, since: failing.since }),
      heldWrites: each.reduce((sum, one) => sum + one.heldWrites, 0),
      heldBytes: each.reduce((sum, one) => sum + one.heldBytes, 0),
    }
    const freeBytes = space.bytes
    if (space.sufficient || !held.writable) return { ...held, freeBytes }
    return { ...held, writable: false, problem: `less than ${options.minFreeBytes} bytes free under ${dataDir}`, freeBytes }
  }
  return {
    documents: withoutSyncStates(stores.documents),
    registry: stores.registry,
    events: stores.events,
    ...(postgres && { postgres }),
    ...(registryDb && { registryDb }),
    status,
    close: async () => {
      space.stop()
      // Registry writes still batching go out before the pool closes.
      await postgresRegistry?.flushed()
      await Promise.all([...databases.map(db => db.close()), postgres?.close()])
    },
  }
}

/** A pool on `url` with the migrations applied. */
async function openPostgres(url: string, log: FastifyBaseLogger | undefined): Promise<PostgresPool> {
  const pool = new PostgresPool(url, { onIdleError: error => log?.warn({ err: error }, 'storage: an idle PostgreSQL connection failed; the pool replaces it') })
  try {
    await migrate(pool)
    return pool
  } catch (cause) {
    await pool.close()
    // The URL may carry a password: name the host and database only.
    const { host, pathname } = new URL(url)
    throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `cannot open the database postgres://${host}${pathname}: ${(cause as Error).message}`, { cause })
  }
}

async function openResilient(dir: string, name: string, { retryMs, maxHeldBytes, log, metrics }: DatabaseOptions): Promise<ResilientDatabase> {
  const level = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
  await openCheckingLock(level, dir, lock => `the data directory ${resolve(dir, '..')} is locked by another running parley-server (LevelDB lock on ${lock}): stop that server, or give this one another --data`)
  return new ResilientDatabase(level as unknown as ReopenableLevel, {
    dir,
    retryMs,
    maxHeldBytes,
    onFailure: error => {
      metrics?.storageWriteFailed()
      log?.error({ err: error, database: name }, 'storage: a write failed; holding writes in memory until the disk takes them again (not ready)')
    },
    onRecovered: ({ writes, downMs }) => log?.warn({ writes, downMs, database: name }, 'storage: writable again; every held write is on disk (ready)'),
    onRetryFailed: error => log?.warn({ err: error, database: name }, 'storage: still not writable'),
  })
}

/**
 * The server keeps no per-peer sync states on disk. automerge-repo saves a document and
 * its sync states with separate throttles, so after a SIGKILL a stored sync state can say
 * a client already has changes the stored document lost. The server then asks that
 * client only for what came after them; the guard must hold those back (their
 * predecessors are missing) and the two sides can go round that loop for good (seen in
 * test/reliability/crash-kills.test.ts). Starting every peer from an empty sync state
 * costs one bloom-filter round per document after a restart, and saves a write per peer
 * per document on every message.
 */
function withoutSyncStates(adapter: StorageAdapterInterface): StorageAdapterInterface {
  const isSyncState = (key: string[]): boolean => key[1] === 'sync-state'
  return {
    load: key => (isSyncState(key) ? Promise.resolve(undefined) : adapter.load(key)),
    save: (key, data) => (isSyncState(key) ? Promise.resolve() : adapter.save(key, data)),
    remove: key => adapter.remove(key),
    loadRange: prefix => adapter.loadRange(prefix),
    removeRange: prefix => adapter.removeRange(prefix),
  }
}

/**
 * Opens a LevelDB database. LevelDB's own words for a lock another process holds are
 * "Database failed to open": that becomes DATA_LOCKED, in the words `locked` gives for the
 * lock file.
 */
export async function openCheckingLock(level: { open(): Promise<void> }, dir: string, locked: (lockFile: string) => string): Promise<void> {
  try {
    await level.open()
  } catch (error) {
    if ((error as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED') throw new ParleyError(ServerErrorCodes.DATA_LOCKED, locked(join(resolve(dir), 'LOCK')), { cause: error })
    throw error
  }
}
