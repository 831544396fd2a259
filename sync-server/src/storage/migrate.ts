/**
 * `parley-server migrate --from ./data --to postgres://…`: copies a single node's LevelDB
 * data directory (databases.ts: `db` with the event index, `acl`; the queues `webhooks` and
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
import { randomUUID } from 'node:crypto'
import { resolve } from 'node:path'
import type { DocEntry } from '../access/registry.ts'
import { ParleyError, ServerErrorCodes } from '../errors.ts'
import type { SequencedEvent } from '../events/event-index.ts'
import type { PushDevice } from '../push/subscriptions.ts'
import { inBatches, json, listConversations, listDocuments, openSource, openTarget, pad, waits, type Raw, type Source, type SourceConversation, type Target } from './migrate-ends.ts'
import { verifyMigration, type Verification } from './migrate-verify.ts'
import * as rows from './postgres/import.ts'

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
