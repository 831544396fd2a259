/**
 * Rows written as they are, for `parley-server migrate` (storage/migrate.ts): events with
 * the numbers a single node gave them (and which of them wait for notification), the
 * registry's rows, the webhook and Web Push queues, the push subscriptions. Every insert is a no-op for a row already there, so
 * a migration run again after an interruption writes each row once. The stores' own writes (event-store.ts
 * parley_append_events) number events instead, which a migration must not do. Queued
 * notifications and push subscriptions are recorded as copied in the statement that copies
 * them (parley_migrated_rows, migrations.ts version 7) and copied only if not recorded yet:
 * a node deletes one once delivered or removed, and a run again must not bring it back.
 * Each run is recorded by its source (parley_migration_runs, version 8); once one completes,
 * its source's copy records are deleted and a run again from that source is refused. The
 * inserts return how many rows they wrote, for the run's summary.
 */
import type { StorageKey } from '@automerge/automerge-repo'
import type { DocEntry } from '../../access/registry.ts'
import type { SequencedEvent } from '../../events/event-index.ts'
import type { PushDevice } from '../../push/subscriptions.ts'
import { decodeKey, encodeKey } from './adapter.ts'
import { bytes, type PostgresPool } from './pool.ts'

/** A conversation's numbering in the target: event ID by seq, and its counter if set. */
export interface Numbering {
  readonly events: Map<number, string>
  readonly counter: number | undefined
}

export async function numberingOf(pool: PostgresPool, conversationId: string): Promise<Numbering> {
  const rows = await pool.query<{ seq: string; event_id: string }>('SELECT seq, event_id FROM parley_events WHERE conversation_id = $1', [conversationId])
  const counter = await pool.query<{ last_seq: string }>('SELECT last_seq FROM parley_event_counters WHERE conversation_id = $1', [conversationId])
  return {
    events: new Map(rows.map(row => [Number(row.seq), row.event_id])),
    counter: counter[0] === undefined ? undefined : Number(counter[0].last_seq),
  }
}

/** The highest seq stored for a conversation (0: none). */
export async function highestSeq(pool: PostgresPool, conversationId: string): Promise<number> {
  const rows = await pool.query<{ max: string | null }>('SELECT max(seq) AS max FROM parley_events WHERE conversation_id = $1', [conversationId])
  return Number(rows[0]?.max ?? 0)
}

/**
 * Events with the numbers they already have; one statement, so a batch is all in or all
 * out. Those whose seq is in `waiting` (not notified yet on the source) are listed in
 * parley_unnotified_events in the same statement, dated long ago so the first node to look
 * hands them over at once (as a single node does with what it finds at a start); only rows
 * this statement inserts are listed, so a run again never lists an event twice. Returns the
 * seqs it inserted.
 */
export async function insertNumberedEvents(pool: PostgresPool, conversationId: string, events: readonly SequencedEvent[], waiting: readonly number[] = []): Promise<number[]> {
  if (events.length === 0) return []
  const rows = await pool.query<{ seq: string }>(
    `WITH inserted AS (
       INSERT INTO parley_events (conversation_id, seq, event_id, event)
       SELECT $1, seq, id, body FROM unnest($2::bigint[], $3::text[], $4::json[]) AS t(seq, id, body)
       ON CONFLICT DO NOTHING
       RETURNING seq),
     listed AS (
       INSERT INTO parley_unnotified_events (conversation_id, seq, since)
       SELECT $1, seq, 'epoch' FROM inserted WHERE seq = ANY ($5::bigint[])
       ON CONFLICT DO NOTHING)
     SELECT seq FROM inserted`,
    [conversationId, events.map(one => one.seq), events.map(one => one.event.id), events.map(one => JSON.stringify(one.event)), waiting],
  )
  return rows.map(row => Number(row.seq))
}

/** How many of `seqs` of a conversation are listed as not notified yet (migration verification). */
export async function countUnnotified(pool: PostgresPool, conversationId: string, seqs: readonly number[]): Promise<number> {
  if (seqs.length === 0) return 0
  const rows = await pool.query<{ count: string }>('SELECT count(*) AS count FROM parley_unnotified_events WHERE conversation_id = $1 AND seq = ANY ($2::bigint[])', [conversationId, seqs])
  return Number(rows[0]?.count ?? 0)
}

/** Sets the counter the next append continues from (never lowers one). */
export async function raiseEventCounter(pool: PostgresPool, conversationId: string, lastSeq: number): Promise<void> {
  await pool.query(
    `INSERT INTO parley_event_counters (conversation_id, last_seq) VALUES ($1, $2)
     ON CONFLICT (conversation_id) DO UPDATE SET last_seq = greatest(parley_event_counters.last_seq, excluded.last_seq)`,
    [conversationId, lastSeq],
  )
}

export interface EventTally {
  count: number
  lastSeq: number
}

export async function eventTally(pool: PostgresPool, conversationId: string): Promise<EventTally> {
  const rows = await pool.query<{ count: string; last: string | null }>(
    `SELECT count(*) AS count, (SELECT last_seq FROM parley_event_counters WHERE conversation_id = $1) AS last FROM parley_events WHERE conversation_id = $1`,
    [conversationId],
  )
  return { count: Number(rows[0]?.count ?? 0), lastSeq: Number(rows[0]?.last ?? 0) }
}

/** Runs `insert` (an INSERT … RETURNING 1) and returns how many rows it wrote. */
async function counted(pool: PostgresPool, insert: string, params: readonly unknown[]): Promise<number> {
  return (await pool.query(insert, params)).length
}

/** Registry rows; an existing row is kept (a first actor binding wins, as in registry-store.ts). Each returns how many it wrote. */
export async function insertRegistryEntries(pool: PostgresPool, rows: readonly (readonly [string, DocEntry])[]): Promise<number> {
  if (rows.length === 0) return 0
  return counted(pool, 'INSERT INTO parley_registry_entries (document_id, entry) SELECT * FROM unnest($1::text[], $2::jsonb[]) ON CONFLICT DO NOTHING RETURNING 1', [
    rows.map(([id]) => id),
    rows.map(([, entry]) => JSON.stringify(entry)),
  ])
}

export async function insertActorOwners(pool: PostgresPool, rows: readonly (readonly [string, string])[]): Promise<number> {
  if (rows.length === 0) return 0
  return counted(pool, 'INSERT INTO parley_actor_owners (actor, owner) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING RETURNING 1', [
    rows.map(([actor]) => actor),
    rows.map(([, owner]) => owner),
  ])
}

export async function insertAcceptedHashes(pool: PostgresPool, hashes: readonly string[]): Promise<number> {
  if (hashes.length === 0) return 0
  return counted(pool, 'INSERT INTO parley_accepted_changes (hash) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING RETURNING 1', [hashes])
}

/** How many of `keys` the table holds (registry verification). */
export async function countPresent(pool: PostgresPool, table: 'entries' | 'owners' | 'hashes', keys: readonly string[]): Promise<number> {
  const [name, column] = { entries: ['parley_registry_entries', 'document_id'], owners: ['parley_actor_owners', 'actor'], hashes: ['parley_accepted_changes', 'hash'] }[table]
  const rows = await pool.query<{ count: string }>(`SELECT count(*) AS count FROM ${name} WHERE ${column} = ANY ($1::text[])`, [keys])
  return Number(rows[0]?.count ?? 0)
}

/** The webhook queue's table, and the Web Push queue's of the same shape (migration 5). */
export type QueueTable = 'parley_webhooks' | 'parley_push_queue'

export interface QueueRow {
  readonly id: string
  readonly rank: number
  /** ms since the epoch */
  readonly due: number
  readonly dead: boolean
  readonly notification: unknown
}

/** Queued and dead notifications, unclaimed (webhooks/postgres-dispatcher.ts delivers them); those recorded as copied before are left out. Returns how many it wrote. */
export async function insertQueued(pool: PostgresPool, table: QueueTable, rows: readonly QueueRow[], run: string): Promise<number> {
  if (rows.length === 0) return 0
  return counted(
    pool,
    `WITH recorded AS (
       INSERT INTO parley_migrated_rows (into_table, key, run) SELECT $6::text, unnest($1::text[]), $7::text
       ON CONFLICT DO NOTHING
       RETURNING key)
     INSERT INTO ${table} (id, rank, due, dead, notification)
     SELECT id, rank, to_timestamp(due / 1000.0), dead, n FROM unnest($1::text[], $2::smallint[], $3::float8[], $4::boolean[], $5::jsonb[]) AS t(id, rank, due, dead, n)
     WHERE id IN (SELECT key FROM recorded)
     ON CONFLICT DO NOTHING
     RETURNING 1`,
    [rows.map(row => row.id), rows.map(row => row.rank), rows.map(row => row.due), rows.map(row => row.dead), rows.map(row => JSON.stringify(row.notification)), table, run],
  )
}

export async function countQueued(pool: PostgresPool, table: QueueTable, ids: readonly string[]): Promise<number> {
  const rows = await pool.query<{ count: string }>(`SELECT count(*) AS count FROM ${table} WHERE id = ANY ($1::text[])`, [ids])
  return Number(rows[0]?.count ?? 0)
}

/** A push subscription's key in parley_migrated_rows: user IDs are client-chosen, so no separator would be safe. */
export const subscriptionKey = (user: string, id: string): string => JSON.stringify([user, id])

/** Each user's push subscriptions (push/postgres-subscriptions.ts); a device the target holds, or one recorded as copied before, is left alone. Returns how many it wrote. */
export async function insertPushSubscriptions(pool: PostgresPool, rows: readonly (readonly [user: string, device: PushDevice])[], run: string): Promise<number> {
  if (rows.length === 0) return 0
  return counted(
    pool,
    `WITH recorded AS (
       INSERT INTO parley_migrated_rows (into_table, key, run) SELECT 'parley_push_subscriptions', unnest($3::text[]), $4::text
       ON CONFLICT DO NOTHING
       RETURNING key)
     INSERT INTO parley_push_subscriptions (user_id, id, device, created_at)
     SELECT user_id, device->>'id', device, to_timestamp((device->>'createdAt')::float8 / 1000) FROM unnest($1::text[], $2::jsonb[], $3::text[]) AS t(user_id, device, key)
     WHERE key IN (SELECT key FROM recorded)
     ON CONFLICT DO NOTHING
     RETURNING 1`,
    [rows.map(([user]) => user), rows.map(([, device]) => JSON.stringify(device)), rows.map(([user, device]) => subscriptionKey(user, device.id)), run],
  )
}

/** How many of the (user, device ID) pairs the target holds. */
export async function countPushSubscriptions(pool: PostgresPool, pairs: readonly (readonly [user: string, id: string])[]): Promise<number> {
  const rows = await pool.query<{ count: string }>(
    'SELECT count(*) AS count FROM parley_push_subscriptions s JOIN unnest($1::text[], $2::text[]) AS t(user_id, id) ON s.user_id = t.user_id AND s.id = t.id',
    [pairs.map(([user]) => user), pairs.map(([, id]) => id)],
  )
  return Number(rows[0]?.count ?? 0)
}

/** The tables whose copied rows parley_migrated_rows records. */
export type RecordedTable = QueueTable | 'parley_push_subscriptions'

/** Which of `keys` a migration run other than `run` (any run, without one) recorded as copied into `table`. */
export async function copiedBefore(pool: PostgresPool, table: RecordedTable, keys: readonly string[], run: string | undefined): Promise<Set<string>> {
  const rows = await pool.query<{ key: string }>('SELECT key FROM parley_migrated_rows WHERE into_table = $1 AND key = ANY ($2::text[]) AND run IS DISTINCT FROM $3::text', [
    table,
    keys,
    run ?? null,
  ])
  return new Set(rows.map(row => row.key))
}

/** The storage keys held under a document ID (the key itself and every key continuing it). */
export async function chunkKeysUnder(pool: PostgresPool, first: string): Promise<StorageKey[]> {
  const start = encodeKey([first])
  const rows = await pool.query('SELECT key FROM parley_chunks WHERE key >= $1 AND key < $2', [start, Buffer.concat([start, Buffer.of(0x01)])])
  return rows.map(row => decodeKey(bytes(row.key)))
}

/** A run of the migration that completed with nothing missing (parley_migration_runs). */
export interface CompletedRun {
  readonly run: string
  readonly sourceDir: string
  readonly startedAt: Date
  readonly completedAt: Date
}

/** The completed run from `source` (a data directory's storage ID), if there is one. */
export async function completedRun(pool: PostgresPool, source: string): Promise<CompletedRun | undefined> {
  const [row] = await pool.query<{ run: string; source_dir: string; started_at: Date; completed_at: Date }>(
    'SELECT run, source_dir, started_at, completed_at FROM parley_migration_runs WHERE source = $1 AND completed_at IS NOT NULL',
    [source],
  )
  return row && { run: row.run, sourceDir: row.source_dir, startedAt: new Date(row.started_at), completedAt: new Date(row.completed_at) }
}

/** Records a run as started, before it copies anything, so its copy records can be told apart by source. */
export async function startRun(pool: PostgresPool, run: string, source: string, sourceDir: string): Promise<void> {
  await pool.query('INSERT INTO parley_migration_runs (run, source, source_dir) VALUES ($1, $2, $3)', [run, source, sourceDir])
}

/**
 * Records `run` as completed, with what it copied, and deletes the copy records of every run
 * from its source, in one statement: from then on no run from that source copies again, so
 * nothing reads them. A second run completing from the same source (two copies of a data
 * directory at once) violates parley_migration_runs_completed and throws, recording and
 * deleting nothing. Returns when it completed and how many copy records it deleted.
 */
export async function completeRun(pool: PostgresPool, run: string, source: string, copied: unknown): Promise<{ at: Date; copyRecordsDeleted: number }> {
  const rows = await pool.query<{ at: Date; count: string }>(
    `WITH completed AS (UPDATE parley_migration_runs SET completed_at = now(), copied = $3::jsonb WHERE run = $1 RETURNING completed_at),
     forgotten AS (DELETE FROM parley_migrated_rows WHERE run IN (SELECT run FROM parley_migration_runs WHERE source = $2) RETURNING 1)
     SELECT (SELECT completed_at FROM completed) AS at, (SELECT count(*) FROM forgotten) AS count`,
    [run, source, JSON.stringify(copied)],
  )
  return { at: new Date(rows[0]!.at), copyRecordsDeleted: Number(rows[0]!.count) }
}
