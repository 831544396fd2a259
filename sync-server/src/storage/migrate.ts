/**
 * `parley-server migrate --from ./data --to postgres://…`: copies a single node's LevelDB
 * data directory (databases.ts: `db`, `acl`, `events`; the queues `webhooks` and
 * `push-queue`, push/index.ts, when configured) into the PostgreSQL database a cluster
 * shares (docs/cluster.md, "Moving up from one machine").
 *
 * - Documents go key by key through the two storage adapters, so automerge-repo's key
 *   layout is kept; a key the target already holds is not written again (keys are
 *   content hashes).
 * - Events keep the number the single node gave them (postgres/import.ts), and each
 *   conversation's counter is set to the node's last number.
 * - Events the node numbered but had not handed to its consumers yet (webhooks, Web Push,
 *   moderation, publishing: events/notifications.ts; the node's mark per conversation,
 *   level-event-store.ts) are listed as not notified in PostgreSQL with them, so the
 *   cluster hands them over instead of losing them.
 * - The webhook and Web Push queues keep their notifications' IDs, priority and due time;
 *   the push subscriptions (`acl` `push:`, push/subscriptions.ts) go with them, or the
 *   cluster would drop each queued push as sent to a device no longer subscribed.
 * - Every insert is a no-op for a row already there, and events resume after the highest
 *   number the target holds, so a run that was interrupted continues when run again.
 * - A queued notification or push subscription is recorded as copied in the statement that
 *   copies it (postgres/import.ts) and never copied again: once a node has delivered it, or
 *   its user removed it, the target holds no row to say so, and a run again would bring it back.
 * - A target holding a conversation under other numbers is refused before anything is
 *   written: merging two numberings would renumber events callers already saw.
 * - At the end every document's heads (loaded with Automerge from both sides) and every
 *   conversation's event count and last number are compared, and every row looked up
 *   (`verifyMigration`).
 * - A run that verifies with nothing missing is recorded as completed in the target
 *   (parley_migration_runs, postgres/migrations.ts version 8), by the source's automerge-repo
 *   storage ID, and the source's copy records are deleted with it. A run again from that
 *   source (or a copy of it) into that database is then refused before anything is written:
 *   the cluster has been free since to compact chunks away and change or remove registry
 *   rows, and copying the source again would bring them back. A run that was interrupted, or
 *   verified with differences, records no completion and is completed by a run again.
 */
import { next as Automerge } from '@automerge/automerge'
import type { StorageAdapterInterface } from '@automerge/automerge-repo'
import { LevelStorageAdapter, QUARANTINE_PREFIX } from '@parley/core'
import { Level } from 'level'
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { DocEntry } from '../access/registry.ts'
import { ParleyError, ServerErrorCodes } from '../errors.ts'
import type { SequencedEvent } from '../events/event-index.ts'
import type { PushDevice } from '../push/subscriptions.ts'
import * as rows from './postgres/import.ts'
import { migrate as migrateSchema, PostgresPool, PostgresStorageAdapter } from './postgres/index.ts'

export interface Count {
  done: number
  total: number
}
export interface MigrationProgress {
  readonly documents: Count
  readonly events: Count
}
export interface MigrateOptions {
  /** The data directory of a stopped single-node server. */
  readonly from: string
  /** postgres://… */
  readonly to: string
  /** Rows per statement (default 500). */
  readonly batchSize?: number
  /** Called as documents and events are copied. */
  readonly onProgress?: (progress: MigrationProgress) => void
}
export interface Verification {
  readonly documents: number
  readonly conversations: number
  readonly events: number
  /** Empty when the target holds everything the source does; else one line per difference. */
  readonly differences: string[]
}
/**
 * What one run wrote into the target: a row an earlier, interrupted run copied already is
 * not counted, so a run that completes another counts only the rest.
 */
export interface MigrationSummary {
  /** Documents (storage key prefixes) this run wrote at least one chunk of. */
  readonly documents: number
  readonly chunksWritten: number
  /** Conversations this run inserted at least one event of. */
  readonly conversations: number
  readonly events: number
  /** Events listed as not notified yet (the source's waiting ones this run copied). */
  readonly waiting: number
  readonly registry: { entries: number; owners: number; hashes: number }
  readonly webhooks: number
  /** Queued and dead Web Push notifications (`push-queue`). */
  readonly pushes: number
  readonly pushSubscriptions: number
  readonly verification: Verification
  /** Set when the run verified with nothing missing and was recorded as completed. */
  readonly completed?: { readonly at: Date; readonly copyRecordsDeleted: number }
}

/** What one run copied, for its verification (`verifyMigration`). */
export interface ThisRun {
  /** Its ID in parley_migrated_rows. */
  readonly id: string
  /** The seqs of the events it inserted, by conversation. */
  readonly events: ReadonlyMap<string, readonly number[]>
}

type Raw = Level<string, Uint8Array>

/** The stopped server's databases, opened (their LevelDB locks held until `close`). */
export interface Source {
  readonly dir: string
  /** automerge-repo's storage ID of `db` (the node wrote it at its first start): every copy of the directory has it. */
  readonly id: string
  readonly documents: StorageAdapterInterface
  readonly db: Raw
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
const pad = (seq: number): string => String(seq).padStart(SEQ_DIGITS, '0')
const decoder = new TextDecoder()
const json = <T>(value: Uint8Array): T => JSON.parse(decoder.decode(value)) as T
/** Keys under `prefix` (a string ending in ':'): `;` is the character after ':'. */
const under = (prefix: string) => ({ gte: prefix, lt: `${prefix.slice(0, -1)};` })

export async function migrateDataDirectory(options: MigrateOptions): Promise<MigrationSummary> {
  const source = await openSource(options.from)
  try {
    const target = await openTarget(options.to)
    try {
      return await copyAndVerify(source, target, options)
    } finally {
      await target.close()
    }
  } finally {
    await source.close()
  }
}

async function copyAndVerify(source: Source, target: Target, options: MigrateOptions): Promise<MigrationSummary> {
  const batchSize = options.batchSize ?? 500
  const run = randomUUID()
  await refuseCompletedSource(source, target)
  const documentIds = await listDocuments(source)
  const conversations = await listConversations(source)
  const present = await refuseOtherNumbering(source, target, conversations)
  await rows.startRun(target.pool, run, source.id, resolve(source.dir))
  const progress: MigrationProgress = {
    documents: { done: 0, total: documentIds.length },
    events: { done: present, total: [...conversations.values()].reduce((sum, one) => sum + one.count, 0) },
  }
  const report = () => options.onProgress?.(progress)
  report()
  const registry = await copyRegistry(source, target, batchSize)
  let [documents, chunksWritten] = [0, 0]
  for (const id of documentIds) {
    const written = await copyDocument(source, target, id)
    if (written > 0) documents++
    chunksWritten += written
    progress.documents.done++
    report()
  }
  const inserted = new Map<string, number[]>()
  let [events, waiting] = [0, 0]
  for (const [conversationId, conversation] of conversations) {
    const seqs = await copyEvents(source, target, conversationId, conversation, batchSize, copied => {
      progress.events.done += copied
      report()
    })
    if (seqs.length > 0) inserted.set(conversationId, seqs)
    events += seqs.length
    waiting += seqs.filter(seq => waits(conversation, seq)).length
  }
  const webhooks = await copyQueue(source.webhooks, 'parley_webhooks', target, batchSize, run)
  const pushSubscriptions = await copyPushSubscriptions(source, target, batchSize, run)
  const pushes = await copyQueue(source.pushQueue, 'parley_push_queue', target, batchSize, run)
  const copied = { documents, chunksWritten, conversations: inserted.size, events, waiting, registry, webhooks, pushes, pushSubscriptions }
  const verification = await verifyMigration(source, target, { id: run, events: inserted })
  if (verification.differences.length > 0) return { ...copied, verification }
  return { ...copied, verification, completed: await rows.completeRun(target.pool, run, source.id, copied) }
}

/**
 * Throws, before anything is written, when a run from this source (the same storage ID: this
 * directory or a copy of it) completed into the target: the cluster may have removed since
 * what a run again would bring back.
 */
async function refuseCompletedSource(source: Source, target: Target): Promise<void> {
  const earlier = await rows.completedRun(target.pool, source.id)
  if (!earlier) return
  throw new ParleyError(
    ServerErrorCodes.INVALID_OPTION,
    `${resolve(source.dir)} was already migrated into ${target.name}: a run from ${earlier.sourceDir} (the same data directory or a copy of it, storage ID ${source.id}) ` +
      `started ${earlier.startedAt.toISOString()} and completed, verified, ${earlier.completedAt.toISOString()}. Refusing to copy it again, nothing was written: ` +
      `the cluster may since have compacted document chunks away, changed or removed registry entries, delivered queued notifications and dropped push subscriptions, ` +
      `and a run again would bring them back. The database already holds everything the directory held then; to copy the directory elsewhere, give --to an empty database`,
  )
}

/** Opens the data directory's databases, or says why it cannot: not a data directory, or a server running on it. */
export async function openSource(dir: string): Promise<Source> {
  const opened: Raw[] = []
  const closeAll = () => Promise.all(opened.map(level => level.close()))
  try {
    const [db, acl, events] = [await openLevel(dir, 'db', opened), await openLevel(dir, 'acl', opened), await openLevel(dir, 'events', opened)]
    const optional = (name: string) => (existsSync(join(dir, name, 'CURRENT')) ? openLevel(dir, name, opened) : undefined)
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

async function openLevel(dir: string, name: string, opened: Raw[]): Promise<Raw> {
  const path = join(dir, name)
  if (!existsSync(join(path, 'CURRENT'))) {
    throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `${resolve(dir)} is not a Parley data directory: it has no ${name}/ LevelDB database (expected db/, acl/ and events/, as parley-server --data writes them)`)
  }
  const level: Raw = new Level<string, Uint8Array>(path, { valueEncoding: 'view', createIfMissing: false })
  try {
    await level.open()
  } catch (error) {
    if ((error as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED') {
      throw new ParleyError(
        ServerErrorCodes.DATA_LOCKED,
        `${resolve(dir)} is in use by a running parley-server (LevelDB lock on ${join(resolve(path), 'LOCK')}): stop the server first, then run migrate again`,
        { cause: error },
      )
    }
    throw error
  }
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

/** Each storage key's first part: a document ID (or automerge-repo's `storage-adapter-id`). */
async function listDocuments(source: Source): Promise<string[]> {
  const ids = new Set<string>()
  for await (const key of source.db.keys()) {
    const first = key.split('\u0000', 1)[0]!
    if (first !== QUARANTINE_PREFIX) ids.add(first)
  }
  return [...ids].sort()
}

interface SourceConversation {
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
const waits = ({ mark }: SourceConversation, seq: number): boolean => mark !== undefined && seq > mark.upTo && !(mark.gaps ?? []).some(([from, to]) => seq >= from && seq <= to)

/** Conversations of the event index, by ID, with their numbered events' count and counter. */
async function listConversations(source: Source): Promise<Map<string, SourceConversation>> {
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

/**
 * Throws, before anything is written, when the target numbers a conversation otherwise
 * than the source (another event at a number, a number the source lacks, a counter past
 * the source's). Returns how many of the source's events the target already holds.
 */
async function refuseOtherNumbering(source: Source, target: Target, conversations: Map<string, SourceConversation>): Promise<number> {
  const conflicts: string[] = []
  let present = 0
  for (const [id, { last }] of conversations) {
    const numbering = await rows.numberingOf(target.pool, id)
    if (numbering.counter !== undefined && numbering.counter > last) conflicts.push(`${id}: the target's counter is at ${numbering.counter}, the source's at ${last}`)
    for (const [seq, eventId] of numbering.events) {
      const stored = await source.events.get(`e:${id}:${pad(seq)}`)
      const sourceId = stored && json<SequencedEvent>(stored).event.id
      if (sourceId !== eventId) {
        conflicts.push(`${id}: seq ${seq} is event ${eventId} in the target, ${sourceId ?? 'nothing'} in the source`)
        break
      }
    }
    present += numbering.events.size
  }
  if (conflicts.length > 0) {
    throw new ParleyError(
      ServerErrorCodes.INVALID_OPTION,
      `the target database already holds ${conflicts.length} conversation(s) with other event numbering; refusing to merge them (migrate into an empty database, or one an earlier run of this migration wrote):\n  ${conflicts.slice(0, 10).join('\n  ')}`,
    )
  }
  return present
}

/** Writes the chunks of one document (key prefix) the target lacks, in the source's save order; returns how many. */
async function copyDocument(source: Source, target: Target, id: string): Promise<number> {
  const held = new Set((await rows.chunkKeysUnder(target.pool, id)).map(key => key.join('\u0000')))
  let written = 0
  for (const { key, data } of await source.documents.loadRange([id])) {
    // The server keeps no sync states (databases.ts withoutSyncStates): an old one is not data.
    if (key[1] === 'sync-state' || data === undefined || held.has(key.join('\u0000'))) continue
    await target.documents.save(key, data)
    written++
  }
  return written
}

/** The registry's rows; returns how many of each this run wrote. */
async function copyRegistry(source: Source, target: Target, batchSize: number): Promise<MigrationSummary['registry']> {
  const written = { entries: 0, owners: 0, hashes: 0 }
  await inBatches(source.acl, 'doc:', batchSize, async batch => void (written.entries += await rows.insertRegistryEntries(target.pool, batch.map(([key, value]) => [key, json<DocEntry>(value)]))))
  await inBatches(source.acl, 'actor:', batchSize, async batch => void (written.owners += await rows.insertActorOwners(target.pool, batch.map(([key, value]) => [key, json<string>(value)]))))
  await inBatches(source.acl, 'change:', batchSize, async batch => void (written.hashes += await rows.insertAcceptedHashes(target.pool, batch.map(([key]) => key))))
  return written
}

/** Hands the rows under `prefix` (keys without it) to `write`, `batchSize` at a time; returns how many. */
async function inBatches(level: Raw, prefix: string, batchSize: number, write: (batch: [string, Uint8Array][]) => Promise<void>): Promise<number> {
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

/**
 * A conversation's events after the highest number the target holds (those still waiting
 * for notification listed with them), then its counter. Returns the seqs it inserted.
 */
async function copyEvents(source: Source, target: Target, id: string, conversation: SourceConversation, batchSize: number, copied: (count: number) => void): Promise<number[]> {
  const from = await rows.highestSeq(target.pool, id)
  const prefix = `e:${id}:`
  const inserted: number[] = []
  await inBatches(source.events, prefix, batchSize, async batch => {
    const events = batch.filter(([seq]) => Number(seq) > from).map(([, value]) => json<SequencedEvent>(value))
    const waiting = events.map(({ seq }) => seq).filter(seq => waits(conversation, seq))
    inserted.push(...(await rows.insertNumberedEvents(target.pool, id, events, waiting)))
    copied(events.length)
  })
  await rows.raiseEventCounter(target.pool, id, conversation.last)
  return inserted
}

/** A LevelDB queue (webhooks/dispatcher.ts, the Web Push one too): `q:<rank>:<due>:<id>` queued, `d:<id>` dead letters. Returns how many this run wrote. */
async function copyQueue(level: Raw | undefined, table: rows.QueueTable, target: Target, batchSize: number, run: string): Promise<number> {
  if (!level) return 0
  let written = 0
  await inBatches(level, 'q:', batchSize, async batch => {
    written += await rows.insertQueued(target.pool, table, batch.map(([key, value]) => queueRow(json(value), Number(key.split(':')[0]), Number(key.split(':')[1]), false)), run)
  })
  await inBatches(level, 'd:', batchSize, async batch => void (written += await rows.insertQueued(target.pool, table, batch.map(([, value]) => queueRow(json(value), undefined, undefined, true)), run)))
  return written
}

const RANKS: Record<string, number> = { high: 0, normal: 1, low: 2 }
function queueRow(notification: { id: string; priority: string; enqueuedAt: number }, rank: number | undefined, due: number | undefined, dead: boolean): rows.QueueRow {
  return { id: notification.id, rank: rank ?? RANKS[notification.priority] ?? 1, due: due ?? notification.enqueuedAt, dead, notification }
}

/** `push:<user>` in the registry's LevelDB (push/subscriptions.ts): one row per device. Returns how many devices this run wrote. */
async function copyPushSubscriptions(source: Source, target: Target, batchSize: number, run: string): Promise<number> {
  let devices = 0
  await inBatches(source.acl, 'push:', batchSize, async batch => {
    const each = batch.flatMap(([user, value]) => json<PushDevice[]>(value).map(device => [user, device] as const))
    devices += await rows.insertPushSubscriptions(target.pool, each, run)
  })
  return devices
}

/**
 * Compares what the target holds with the source: each document's heads (every chunk
 * loaded with Automerge on both sides), each conversation's event count and counter, that
 * the events `thisRun` inserted that wait for notification on the source are listed as
 * such (verifying alone, without `thisRun`, looks up none), that every registry row is
 * there, and every push subscription and queued webhook or push but those an earlier run
 * recorded as copied (verifying alone: any run), which a node may have deleted since.
 * Verifying alone after a completed run from this source, none of those is looked up: that
 * run found them all, its copy records are gone, and the cluster owns them since.
 */
export async function verifyMigration(source: Source, target: Target, thisRun?: ThisRun): Promise<Verification> {
  const differences: string[] = []
  let documents = 0
  for (const id of await listDocuments(source)) {
    const [ours, theirs] = [await headsOf(source.documents, id), await headsOf(target.documents, id)]
    if (ours === undefined) continue
    documents++
    if (theirs === undefined) differences.push(`document ${id}: missing from the target`)
    else if (ours.join() !== theirs.join()) differences.push(`document ${id}: heads differ (source ${ours.join(',')}, target ${theirs.join(',')})`)
  }
  const conversations = await listConversations(source)
  let events = 0
  for (const [id, conversation] of conversations) {
    const { count, last } = conversation
    events += count
    const tally = await rows.eventTally(target.pool, id)
    if (tally.count !== count || tally.lastSeq !== last) {
      differences.push(`conversation ${id}: the source has ${count} events up to seq ${last}, the target ${tally.count} up to seq ${tally.lastSeq}`)
    }
    // Only events this run inserted must be listed. The target keeps no trace of an event
    // handed over (a node's `notified` deletes its row, postgres/event-store.ts), so an event
    // numbered there and not listed may have been notified already or never listed: it cannot
    // tell which. An earlier run listed each event it inserted in the same statement
    // (import.ts insertNumberedEvents), so one missing from the list now was taken off by a
    // node that handed it over; counting it would report the target doing its job. An event
    // this run inserted was listed moments ago: missing, it is a real difference.
    const waiting = (thisRun?.events.get(id) ?? []).filter(seq => waits(conversation, seq))
    const listed = await rows.countUnnotified(target.pool, id, waiting)
    if (listed !== waiting.length) differences.push(`conversation ${id}: ${waiting.length} events this run copied wait for notification on the source, ${listed} of them are listed as not notified in the target`)
  }
  differences.push(...(await verifyRows(source, target, thisRun?.id)))
  return { documents, conversations: conversations.size, events, differences }
}

/** Sorted heads of the document stored under `id`, or undefined when it holds no document chunk. */
async function headsOf(storage: StorageAdapterInterface, id: string): Promise<string[] | undefined> {
  const chunks = (await storage.loadRange([id])).filter(({ key }) => key[1] === 'snapshot' || key[1] === 'incremental')
  if (chunks.length === 0) return undefined
  let doc = Automerge.init<unknown>()
  for (const { data } of chunks) if (data) doc = Automerge.loadIncremental(doc, data)
  return Automerge.getHeads(doc).sort()
}

async function verifyRows(source: Source, target: Target, run: string | undefined): Promise<string[]> {
  const settled = run === undefined && (await rows.completedRun(target.pool, source.id)) !== undefined
  // A queued notification's key is `<rank>:<due>:<id>` (copyQueue): its row is found by the ID.
  const queuedIds = (keys: string[]) => keys.map(key => key.split(':')[2]!)
  const queue = (table: rows.QueueTable) => (ids: string[]) => accountedFor(target, table, ids, id => id, run, some => rows.countQueued(target.pool, table, some))
  const checks: RowCheck[] = [
    [source.acl, 'doc:', 'registry entries', keys => rows.countPresent(target.pool, 'entries', keys)],
    [source.acl, 'actor:', 'actor owners', keys => rows.countPresent(target.pool, 'owners', keys)],
    [source.acl, 'change:', 'accepted hashes', keys => rows.countPresent(target.pool, 'hashes', keys)],
  ]
  if (settled) return verifyCounts(checks)
  checks.push(
    [source.webhooks, 'q:', 'queued webhook notifications', keys => queue('parley_webhooks')(queuedIds(keys))],
    [source.webhooks, 'd:', 'dead webhook notifications', queue('parley_webhooks')],
    [source.pushQueue, 'q:', 'queued push notifications', keys => queue('parley_push_queue')(queuedIds(keys))],
    [source.pushQueue, 'd:', 'dead push notifications', queue('parley_push_queue')],
  )
  return [...(await verifyCounts(checks)), ...(await verifyPushSubscriptions(source, target, run))]
}

/** A source database, the prefix of its rows, what they are, and how many of some keys' rows the target holds. */
type RowCheck = [Raw | undefined, string, string, (keys: string[]) => Promise<number>]

/** Each check's rows the target lacks, when any. */
async function verifyCounts(checks: RowCheck[]): Promise<string[]> {
  const differences: string[] = []
  for (const [level, prefix, what, count] of checks) {
    if (!level) continue
    let missing = 0
    const total = await inBatches(level, prefix, 1000, async batch => void (missing += batch.length - (await count(batch.map(([key]) => key)))))
    if (missing > 0) differences.push(`${what}: ${missing} of ${total} missing from the target`)
  }
  return differences
}

/**
 * How many of `items` (rows copied into `table`) are accounted for: in the target, or
 * recorded as copied by an earlier run. A node deletes a notification it delivered and a
 * subscription its user removed, so one an earlier run copied may rightly be gone; one this
 * run copied was written moments ago, and one not copied at all is owed.
 */
async function accountedFor<T>(target: Target, table: rows.RecordedTable, items: T[], keyOf: (item: T) => string, run: string | undefined, present: (items: T[]) => Promise<number>): Promise<number> {
  const before = await rows.copiedBefore(target.pool, table, items.map(keyOf), run)
  const owed = items.filter(item => !before.has(keyOf(item)))
  return items.length - owed.length + (owed.length === 0 ? 0 : await present(owed))
}

async function verifyPushSubscriptions(source: Source, target: Target, run: string | undefined): Promise<string[]> {
  let [missing, total] = [0, 0]
  await inBatches(source.acl, 'push:', 1000, async batch => {
    const pairs = batch.flatMap(([user, value]) => json<PushDevice[]>(value).map(device => [user, device.id] as const))
    total += pairs.length
    const accounted = await accountedFor(target, 'parley_push_subscriptions', pairs, ([user, id]) => rows.subscriptionKey(user, id), run, some => rows.countPushSubscriptions(target.pool, some))
    missing += pairs.length - accounted
  })
  return missing > 0 ? [`push subscriptions: ${missing} of ${total} missing from the target`] : []
}
