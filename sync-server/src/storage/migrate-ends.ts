/**
 * The two ends of `parley-server migrate` (migrate.ts): the stopped single node's data
 * directory, read straight from its LevelDB databases (databases.ts: `db` with the event
 * index under EVENTS_PREFIX, or in `events` when written before 2026-12-08 and not opened
 * since; `acl`; the queues `webhooks` and `push-queue` when it had them), and the
 * PostgreSQL database a cluster shares, its schema migrated on open.
 */
import type { StorageAdapterInterface } from '@automerge/automerge-repo'
import { LevelStorageAdapter, QUARANTINE_PREFIX } from '@parley/core'
import { Level } from 'level'
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { ParleyError, ServerErrorCodes } from '../errors.ts'
import { openCheckingLock } from './databases.ts'
import { EVENTS_PREFIX, EVENTS_SUBLEVEL } from './level-event-store.ts'
import type { KeyRange } from './resilient-database.ts'
import { migrate as migrateSchema, PostgresPool, PostgresStorageAdapter } from './postgres/index.ts'

type LevelDb = Level<string, Uint8Array>
/** What the copy reads of a database (a whole LevelDB, or the event index's sublevel of `db`). */
export interface Raw {
  get(key: string): Promise<Uint8Array | undefined>
  keys(range: KeyRange): AsyncIterable<string>
  iterator(range: KeyRange): AsyncIterable<[string, Uint8Array]>
}

/** The stopped server's databases, opened (their LevelDB locks held until `close`). */
export interface Source {
  readonly dir: string
  /** automerge-repo's storage ID of `db` (the node wrote it at its first start): every copy of the directory has it. */
  readonly id: string
  readonly documents: StorageAdapterInterface
  readonly db: LevelDb
  readonly acl: Raw
  readonly events: Raw
  readonly webhooks: Raw | undefined
  readonly pushQueue: Raw | undefined
  close(): Promise<void>
}
export interface Target {
  /** postgres://host/database, for messages (never the password). */
  readonly name: string
  readonly pool: PostgresPool
  readonly documents: PostgresStorageAdapter
  close(): Promise<void>
}

const SEQ_DIGITS = 12 // level-event-store.ts
export const pad = (seq: number): string => String(seq).padStart(SEQ_DIGITS, '0')
export const decoder = new TextDecoder()
export const json = <T>(value: Uint8Array): T => JSON.parse(decoder.decode(value)) as T
/** Keys under `prefix` (a string ending in ':'): `;` is the character after ':'. */
export const under = (prefix: string) => ({ gte: prefix, lt: `${prefix.slice(0, -1)};` })

/** Opens the data directory's databases, or says why it cannot: not a data directory, or a server running on it. */
export async function openSource(dir: string): Promise<Source> {
  const opened: LevelDb[] = []
  const closeAll = () => Promise.all(opened.map(level => level.close()))
  try {
    const [db, acl] = [await openLevel(dir, 'db', opened), await openLevel(dir, 'acl', opened)]
    const optional = (name: string) => (existsSync(join(dir, name, 'CURRENT')) ? openLevel(dir, name, opened) : undefined)
    const events: Raw = (await optional('events')) ?? db.sublevel<string, Uint8Array>(EVENTS_SUBLEVEL, { valueEncoding: 'view' })
    const [webhooks, pushQueue] = [await optional('webhooks'), await optional('push-queue')]
    // Corrupt values are skipped (and moved aside, as the server does); the verification then names their document.
    const documents = new LevelStorageAdapter(db)
    const id = await storageIdOf(documents)
    return { dir, id, documents, db, acl, events, webhooks, pushQueue, close: async () => void (await closeAll()) }
  } catch (error) {
    await closeAll()
    throw error
  }
}

const STORAGE_ID_KEY = ['storage-adapter-id']

/**
 * The source's identity for the record of completed runs: automerge-repo's storage ID, which
 * a node writes at its first start (StorageSubsystem.id) and keeps, so a copy of the directory,
 * even one taken before the first run, is the same source. A directory without one (no node
 * finished starting on it) gets one now, as the next node to start on it would write it.
 */
async function storageIdOf(documents: StorageAdapterInterface): Promise<string> {
  const stored = await documents.load(STORAGE_ID_KEY)
  if (stored) return decoder.decode(stored)
  const id = randomUUID()
  await documents.save(STORAGE_ID_KEY, new TextEncoder().encode(id))
  return id
}

async function openLevel(dir: string, name: string, opened: LevelDb[]): Promise<LevelDb> {
  const path = join(dir, name)
  if (!existsSync(join(path, 'CURRENT'))) {
    throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `${resolve(dir)} is not a Parley data directory: it has no ${name}/ LevelDB database (expected db/ and acl/, as parley-server --data writes them)`)
  }
  const level: LevelDb = new Level<string, Uint8Array>(path, { valueEncoding: 'view', createIfMissing: false })
  await openCheckingLock(level, path, lock => `${resolve(dir)} is in use by a running parley-server (LevelDB lock on ${lock}): stop the server first, then run migrate again`)
  opened.push(level)
  return level
}

/** A pool on `url` with the schema migrated, or an error naming the host and database (never the password). */
export async function openTarget(url: string): Promise<Target> {
  if (!/^postgres(ql)?:\/\//.test(url)) throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `--to must be a postgres:// URL`)
  const pool = new PostgresPool(url, { max: 2, applicationName: 'parley-migrate' })
  const { host, pathname } = new URL(url)
  const name = `postgres://${host}${pathname}`
  try {
    await migrateSchema(pool)
  } catch (cause) {
    await pool.close()
    throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `cannot use the database ${name}: ${(cause as Error).message || String(cause)}`, { cause })
  }
  return { name, pool, documents: new PostgresStorageAdapter(pool), close: () => pool.close() }
}

/** Each storage key's first part: a document ID (or automerge-repo's `storage-adapter-id`); not the event index's keys. */
export async function listDocuments(source: Source): Promise<string[]> {
  const ids = new Set<string>()
  for await (const key of source.db.keys()) {
    const first = key.split('\u0000', 1)[0]!
    if (first !== QUARANTINE_PREFIX && !key.startsWith(EVENTS_PREFIX)) ids.add(first)
  }
  return [...ids].sort()
}

export interface SourceConversation {
  /** The node's counter (`last:`), or the highest number stored. */
  last: number
  count: number
  /** The node's "notified up to" mark (level-event-store.ts `u:`), if events still waited for notification. */
  mark?: NotifiedMark
}

/** As level-event-store.ts stores it: every event after `upTo` waits, but those in `gaps` (inclusive ranges). */
interface NotifiedMark {
  upTo: number
  gaps?: [from: number, to: number][]
}

/** Whether the event numbered `seq` still waited for notification on the source. */
export const waits = ({ mark }: SourceConversation, seq: number): boolean => mark !== undefined && seq > mark.upTo && !(mark.gaps ?? []).some(([from, to]) => seq >= from && seq <= to)

/** Conversations of the event index, by ID, with their numbered events' count and counter. */
export async function listConversations(source: Source): Promise<Map<string, SourceConversation>> {
  const conversations = new Map<string, SourceConversation>()
  for await (const key of source.events.keys(under('e:'))) {
    const [, id, seq] = key.split(':') as [string, string, string]
    const one = conversations.get(id) ?? { last: 0, count: 0 }
    one.count++
    one.last = Math.max(one.last, Number(seq))
    conversations.set(id, one)
  }
  for await (const [key, value] of source.events.iterator(under('last:'))) {
    const one = conversations.get(key.slice('last:'.length))
    if (one) one.last = Math.max(one.last, json<number>(value))
  }
  for await (const [key, value] of source.events.iterator(under('u:'))) {
    const one = conversations.get(key.slice('u:'.length))
    if (one) one.mark = json<NotifiedMark>(value)
  }
  return new Map([...conversations].sort(([a], [b]) => (a < b ? -1 : 1)))
}

/** Hands the rows under `prefix` (keys without it) to `write`, `batchSize` at a time; returns how many. */
export async function inBatches(level: Raw, prefix: string, batchSize: number, write: (batch: [string, Uint8Array][]) => Promise<void>): Promise<number> {
  let batch: [string, Uint8Array][] = []
  let count = 0
  for await (const [key, value] of level.iterator(under(prefix))) {
    batch.push([key.slice(prefix.length), value])
    if (batch.length === batchSize) {
      await write(batch)
      count += batch.length
      batch = []
    }
  }
  if (batch.length > 0) await write(batch)
  return count + batch.length
}
