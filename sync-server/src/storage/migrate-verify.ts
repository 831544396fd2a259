/**
 * The check at the end of `parley-server migrate` (migrate.ts), also run on its own: does
 * the PostgreSQL target hold everything the single node's data directory does?
 */
import { next as Automerge } from '@automerge/automerge'
import type { StorageAdapterInterface } from '@automerge/automerge-repo'
import type { PushDevice } from '../push/subscriptions.ts'
import { inBatches, json, listConversations, listDocuments, waits, type Raw, type Source, type Target } from './migrate-ends.ts'
import * as rows from './postgres/import.ts'

export interface Verification {
  readonly documents: number
  readonly conversations: number
  readonly events: number
  /** Empty when the target holds everything the source does; else one line per difference. */
  readonly differences: string[]
}

/** What one run copied, for its verification (`verifyMigration`). */
export interface ThisRun {
  /** Its ID in parley_migrated_rows. */
  readonly id: string
  /** The seqs of the events it inserted, by conversation. */
  readonly events: ReadonlyMap<string, readonly number[]>
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
