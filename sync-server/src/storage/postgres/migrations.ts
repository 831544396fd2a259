/**
 * Versioned schema migrations, run when a store opens. Each migration runs in its own
 * transaction and records its version in `parley_migrations`; versions already there are
 * skipped. Two nodes starting at once serialize on a session advisory lock, so the second
 * finds the first one's versions recorded and applies nothing twice.
 *
 * Migrations are append-only: a released migration is never edited, a change to the
 * schema is a new version.
 */
import type { PostgresPool } from './pool.ts'

export interface Migration {
  readonly version: number
  readonly name: string
  readonly sql: string
}

/** pg_advisory_lock key: "parley" as an int64 (any constant shared by every node works). */
export const MIGRATION_LOCK_KEY = 0x7061726c6579n

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'automerge-repo storage chunks',
    // key: the StorageKey's parts as UTF-8 joined by a NUL byte (the layout of
    // core/src/storage/level.ts), so a prefix is the byte range [prefix, prefix || 0x01)
    // and loadRange/removeRange are btree range scans. seq: save order, which
    // automerge-repo's adapter suite expects loadRange to return.
    sql: `
      CREATE SEQUENCE parley_chunks_seq;
      CREATE TABLE parley_chunks (
        key bytea PRIMARY KEY,
        seq bigint NOT NULL DEFAULT nextval('parley_chunks_seq'),
        data bytea NOT NULL
      );
      ALTER SEQUENCE parley_chunks_seq OWNED BY parley_chunks.seq;
    `,
  },
  {
    version: 2,
    name: 'access registry',
    // registry-store.ts: a document's entry (access/registry.ts DocEntry), the user an
    // actor is bound to, the hashes of accepted changes.
    sql: `
      CREATE TABLE parley_registry_entries (document_id text PRIMARY KEY, entry jsonb NOT NULL);
      CREATE TABLE parley_actor_owners (actor text PRIMARY KEY, owner text NOT NULL);
      CREATE TABLE parley_accepted_changes (hash text PRIMARY KEY);
    `,
  },
  {
    version: 3,
    name: 'event index',
    // event-store.ts: one sequence per conversation for every node. The counter row is
    // the conversation's lock: parley_append_events takes it FOR UPDATE, so appends to
    // one conversation run one at a time across the cluster, and (PL/pgSQL statements
    // each taking a fresh snapshot under READ COMMITTED) the statements after it see
    // every append committed before it. Events already numbered keep their number; the
    // unique (conversation, event) pair makes a second insert of one a no-op.
    sql: `
      CREATE TABLE parley_event_counters (conversation_id text PRIMARY KEY, last_seq bigint NOT NULL);
      CREATE TABLE parley_events (
        conversation_id text NOT NULL,
        seq bigint NOT NULL,
        event_id text NOT NULL,
        event json NOT NULL,
        PRIMARY KEY (conversation_id, seq),
        UNIQUE (conversation_id, event_id)
      );
      CREATE FUNCTION parley_append_events(conversation text, ids text[], bodies json[])
      RETURNS TABLE (event_id text, seq bigint, fresh boolean)
      LANGUAGE plpgsql AS $$
      DECLARE
        highest bigint;
        known text[];
        added integer;
      BEGIN
        SELECT c.last_seq INTO highest FROM parley_event_counters c WHERE c.conversation_id = conversation FOR UPDATE;
        IF NOT FOUND THEN
          INSERT INTO parley_event_counters (conversation_id, last_seq) VALUES (conversation, 0) ON CONFLICT (conversation_id) DO NOTHING;
          SELECT c.last_seq INTO highest FROM parley_event_counters c WHERE c.conversation_id = conversation FOR UPDATE;
        END IF;
        -- By the (conversation, event) index: an anti-join here can hash the whole conversation.
        SELECT coalesce(array_agg(e.event_id), '{}') INTO known FROM parley_events e WHERE e.conversation_id = conversation AND e.event_id = ANY (ids);
        INSERT INTO parley_events (conversation_id, seq, event_id, event)
          SELECT conversation, highest + row_number() OVER (ORDER BY f.ord), f.id, f.body
          FROM (SELECT DISTINCT ON (g.id) g.id, g.body, g.ord FROM unnest(ids, bodies) WITH ORDINALITY AS g(id, body, ord)
                WHERE g.id <> ALL (known) ORDER BY g.id, g.ord) f
          ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS added = ROW_COUNT;
        IF added > 0 THEN
          UPDATE parley_event_counters c SET last_seq = highest + added WHERE c.conversation_id = conversation;
        END IF;
        RETURN QUERY SELECT e.event_id, e.seq, e.seq > highest FROM parley_events e WHERE e.conversation_id = conversation AND e.event_id = ANY (ids);
      END
      $$;
    `,
  },
  {
    version: 4,
    name: 'webhook queue',
    // webhooks/postgres-dispatcher.ts: one row per notification, queued or dead. A node
    // delivering one claims it until claimed_until (row locks with SKIP LOCKED let two
    // nodes claim at once without taking the same row); a node that dies lets its claims
    // lapse, and another node takes them then.
    sql: `
      CREATE TABLE parley_webhooks (
        id text PRIMARY KEY,
        rank smallint NOT NULL,
        due timestamptz NOT NULL,
        dead boolean NOT NULL DEFAULT false,
        notification jsonb NOT NULL,
        claimed_by text,
        claimed_until timestamptz
      );
      CREATE INDEX parley_webhooks_next ON parley_webhooks (rank, due, id) WHERE NOT dead;
    `,
  },
  {
    version: 5,
    name: 'web push',
    // push/: each device's push subscription (at most a few per user, push/options.ts), and
    // the Web Push queue, the webhook queue's shape (webhooks/postgres-dispatcher.ts `table`).
    sql: `
      CREATE TABLE parley_push_subscriptions (
        user_id text NOT NULL,
        id text NOT NULL,
        device jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, id)
      );
      CREATE TABLE parley_push_queue (LIKE parley_webhooks INCLUDING ALL);
    `,
  },
  {
    version: 6,
    name: 'events not notified yet',
    // events/notifications.ts: an event numbered with notify is listed here in the same
    // statement (so in the same transaction) as its numbering, and taken off once its
    // webhooks and Web Push notifications are queued. A node that dies in between leaves
    // the row, and any node claims it after a grace period (since: when it was listed or
    // last claimed) and queues them. The three-argument function stays for nodes not
    // upgraded yet; this overload numbers through it.
    sql: `
      CREATE TABLE parley_unnotified_events (
        conversation_id text NOT NULL,
        seq bigint NOT NULL,
        since timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (conversation_id, seq)
      );
      CREATE INDEX parley_unnotified_events_since ON parley_unnotified_events (since);
      CREATE FUNCTION parley_append_events(conversation text, ids text[], bodies json[], notify boolean)
      RETURNS TABLE (event_id text, seq bigint, fresh boolean)
      LANGUAGE sql AS $$
        WITH appended AS (SELECT a.event_id, a.seq, a.fresh FROM parley_append_events(conversation, ids, bodies) a),
             listed AS (INSERT INTO parley_unnotified_events (conversation_id, seq)
                        SELECT conversation, appended.seq FROM appended WHERE notify AND appended.fresh
                        ON CONFLICT DO NOTHING)
        SELECT appended.event_id, appended.seq, appended.fresh FROM appended
      $$;
    `,
  },
  {
    version: 7,
    name: 'rows a migration copied',
    // storage/migrate.ts: each queued notification and push subscription `parley-server
    // migrate` copied, by the table it went into (key: a notification's ID, a subscription's
    // user and device), recorded in the statement that copies it. A node deletes a delivered
    // notification and a removed subscription, so only this record keeps a run again from
    // copying them back. run: the migration run that copied it, for its verification.
    sql: `
      CREATE TABLE parley_migrated_rows (
        into_table text NOT NULL,
        key text NOT NULL,
        run text NOT NULL,
        PRIMARY KEY (into_table, key)
      );
    `,
  },
  {
    version: 8,
    name: 'migration runs',
    // storage/migrate.ts: each `parley-server migrate` run into this database, by source
    // (the data directory's automerge-repo storage ID, which every copy of it shares), and
    // when it completed with nothing missing. A source with a completed run is refused: by
    // then the cluster may have compacted chunks away and changed or removed registry rows,
    // queued notifications and subscriptions, and a run again would bring them back. The
    // record lives here, not in the data directory, because it is this database's history
    // that a run again would undo: the same directory may still go into another, empty
    // database. At completion the source's rows in parley_migrated_rows are deleted (no run
    // from it copies again); `copied`: what the completing run itself copied.
    sql: `
      CREATE TABLE parley_migration_runs (
        run text PRIMARY KEY,
        source text NOT NULL,
        source_dir text NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz,
        copied jsonb
      );
      CREATE UNIQUE INDEX parley_migration_runs_completed ON parley_migration_runs (source) WHERE completed_at IS NOT NULL;
    `,
  },
]

/** Applies the migrations not yet recorded; returns the versions applied now. */
export async function migrate(pool: PostgresPool, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  checkOrder(migrations)
  return pool.withSession(async session => {
    await session.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()])
    try {
      await session.query(`CREATE TABLE IF NOT EXISTS parley_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`)
      const rows = await session.query<{ version: number }>('SELECT version FROM parley_migrations')
      const applied = new Set(rows.map(row => row.version))
      const known = new Set(migrations.map(migration => migration.version))
      const newer = [...applied].filter(version => !known.has(version))
      if (newer.length > 0) {
        throw new Error(`the database has schema version ${Math.max(...newer)}, newer than this server knows (${Math.max(0, ...known)}): upgrade the server`)
      }
      const done: number[] = []
      for (const migration of migrations) {
        if (applied.has(migration.version)) continue
        await session.query('BEGIN')
        try {
          await session.query(migration.sql)
          await session.query('INSERT INTO parley_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name])
          await session.query('COMMIT')
        } catch (cause) {
          await session.query('ROLLBACK').catch(() => undefined)
          throw new Error(`PostgreSQL migration ${migration.version} (${migration.name}) failed: ${(cause as Error).message}`, { cause })
        }
        done.push(migration.version)
      }
      return done
    } finally {
      await session.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY.toString()]).catch(() => undefined)
    }
  })
}

function checkOrder(migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) throw new Error(`migration versions must run 1, 2, 3 …; found ${migration.version} at position ${index + 1}`)
  })
}
