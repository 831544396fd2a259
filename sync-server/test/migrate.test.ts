/**
 * `parley-server migrate --from DIR --to postgres://…` (issue 16, item 3; storage/migrate.ts)
 * on a data directory a real server wrote (migrate-fixture.ts). The command runs as a
 * process; a server on PostgreSQL then serves the same events under the same numbers, and
 * the same timelines to a client; a killed run resumes; verification names what a target
 * lost; a target that disagrees, a running server or an unreachable database is refused;
 * once a run completes, a run again from the same data directory (or a copy) is refused and
 * writes nothing, so what the cluster removed since stays removed; the summary counts what
 * the run itself copied.
 * What the node had yet to notify (webhooks, Web Push): migrate-notifications.test.ts.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { ServerErrorCodes } from '../src/errors.ts'
import { migrateDataDirectory } from '../src/storage/migrate.ts'
import { openSource, openTarget } from '../src/storage/migrate-ends.ts'
import { verifyMigration } from '../src/storage/migrate-verify.ts'
import { PostgresPool } from '../src/storage/postgres/index.ts'
import { startTestServer } from '../src/testing.ts'
import { migrateFixture, runCli, type Written } from './migrate-fixture.ts'

describe('parley-server migrate', () => {
  const fixture = migrateFixture()
  const { database, expectServedFrom } = fixture
  let written: Written
  beforeAll(() => {
    written = fixture.written
  })

  it('copies documents, registry, numbered events and the webhook queue; a server on PostgreSQL serves the same', async () => {
    expect(written.total).toBeGreaterThan(2000)
    const target = await database()
    const run = await runCli(['migrate', '--from', written.dataDir, '--to', target.url]).exited
    expect(run.code, run.stderr).toBe(0)
    expect(run.stderr).toMatch(/migrate: documents \d+\/\d+, events \d+\/\d+/)
    expect(run.stderr).toContain(`events ${written.total}/${written.total}`)
    expect(run.stderr).toMatch(/verified: \d+ documents with the same heads, 4 conversations/)
    expect(run.stderr).toMatch(new RegExp(`this run copied \\d+ chunks of \\d+ documents, ${written.total} events of 4 conversations`))
    expect(run.stderr).toContain('recorded as completed')
    const pool = new PostgresPool(target.url, { max: 1 })
    try {
      const [queued] = await pool.query<{ count: string }>("SELECT count(*) FROM parley_webhooks WHERE notification->'recipients' ? 'carol'")
      expect(Number(queued!.count)).toBeGreaterThan(0)
    } finally {
      await pool.close()
    }

    await expectServedFrom(target.url)

    // The target has moved on (one more event): a second run is refused, the first having completed.
    const again = await runCli(['migrate', '--from', written.dataDir, '--to', target.url]).exited
    expect(again.code).toBe(2)
    expect(again.stderr).toContain(`${ServerErrorCodes.INVALID_OPTION}: ${written.dataDir} was already migrated into`)
  }, 90_000)

  it('once a run completed, a run again from the directory or a copy of it is refused and writes nothing: what the cluster removed stays removed', async () => {
    const target = await database()
    const pool = new PostgresPool(target.url, { max: 1 })
    const copy = await mkdtemp(join(tmpdir(), 'parley-migrate-copy-'))
    try {
      await (await openTarget(target.url)).close()
      // A copy record of a run from another data directory: completing this one leaves it.
      await pool.query("INSERT INTO parley_migrated_rows (into_table, key, run) VALUES ('parley_webhooks', 'another-directory-notification', 'another-run')")
      const first = await migrateDataDirectory({ from: written.dataDir, to: target.url })
      expect(first.verification.differences).toEqual([])
      expect(first.completed).toBeDefined()
      expect(first).toMatchObject({ events: written.total, conversations: 4 })
      expect(await pool.query('SELECT into_table, key, run FROM parley_migrated_rows')).toEqual([{ into_table: 'parley_webhooks', key: 'another-directory-notification', run: 'another-run' }])

      // The cluster serves for a while: it compacts a document (an incremental chunk gives way
      // to a snapshot), a document's entry is removed, a webhook is delivered.
      const chunks = await pool.query<{ key: Buffer }>('SELECT key FROM parley_chunks ORDER BY seq')
      const compacted = chunks.find(({ key }) => key.includes(Buffer.from('\u0000incremental\u0000')))!.key
      await pool.query('DELETE FROM parley_chunks WHERE key = $1', [compacted])
      const [removed] = await pool.query<{ document_id: string }>('DELETE FROM parley_registry_entries WHERE document_id = (SELECT min(document_id) FROM parley_registry_entries) RETURNING document_id')
      await pool.query('DELETE FROM parley_webhooks WHERE id = (SELECT min(id) FROM parley_webhooks)')
      const tables = ['parley_chunks', 'parley_registry_entries', 'parley_actor_owners', 'parley_accepted_changes', 'parley_events', 'parley_unnotified_events', 'parley_webhooks', 'parley_push_subscriptions', 'parley_migrated_rows', 'parley_migration_runs']
      const counts = async () => Object.fromEntries(await Promise.all(tables.map(async table => [table, (await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`))[0]!.n])))
      const before = await counts()

      const again = await runCli(['migrate', '--from', written.dataDir, '--to', target.url]).exited
      expect(again.code).toBe(2)
      expect(again.stderr).toContain(`${ServerErrorCodes.INVALID_OPTION}: ${written.dataDir} was already migrated into postgres://`)
      expect(again.stderr).toMatch(/completed, verified, \d{4}-\d\d-\d\dT/)
      expect(again.stderr).toContain('a run again would bring them back')
      expect(again.stderr).not.toContain('migrate: documents') // refused before copying
      await cp(written.dataDir, copy, { recursive: true })
      await expect(migrateDataDirectory({ from: copy, to: target.url })).rejects.toMatchObject({ code: ServerErrorCodes.INVALID_OPTION, message: expect.stringContaining(`run from ${written.dataDir} (the same data directory or a copy of it`) })

      expect(await pool.query('SELECT 1 FROM parley_chunks WHERE key = $1', [compacted])).toEqual([])
      expect(await pool.query('SELECT 1 FROM parley_registry_entries WHERE document_id = $1', [removed!.document_id])).toEqual([])
      expect(await counts()).toEqual(before)
    } finally {
      await pool.close()
      await rm(copy, { recursive: true, force: true })
    }
  }, 60_000)

  it('resumes after the process is killed mid-copy, without duplicating or renumbering', async () => {
    const target = await database()
    const pool = new PostgresPool(target.url, { max: 2 })
    try {
      await (await openTarget(target.url)).close() // the schema, so the test can hold a row before the command starts
      const order = [...written.ids].sort()
      const held = order[2]!
      // An uncommitted counter row for the third conversation: the command copies the first
      // two in full and the third's events, then waits on that row until it is killed.
      const killedRun = await pool.withSession(async session => {
        await session.query('BEGIN')
        await session.query('INSERT INTO parley_event_counters (conversation_id, last_seq) VALUES ($1, 0)', [held])
        const { child, exited } = runCli(['migrate', '--from', written.dataDir, '--to', target.url])
        while ((await pool.query("SELECT 1 FROM pg_stat_activity WHERE application_name = 'parley-migrate' AND datname = current_database() AND wait_event_type = 'Lock'")).length === 0) {
          if (child.exitCode !== null) throw new Error(`exited before waiting: ${(await exited).stderr}`)
          await new Promise(resolve => setTimeout(resolve, 20))
        }
        child.kill('SIGKILL')
        const run = await exited
        await session.query('ROLLBACK')
        return run
      })
      expect(killedRun.code).toBe(null)
      const copied = async () => Object.fromEntries((await pool.query<{ id: string; n: string }>('SELECT conversation_id AS id, count(*) AS n FROM parley_events GROUP BY 1')).map(row => [row.id, Number(row.n)]))
      const partial = await copied()
      expect(partial[order[3]!]).toBeUndefined()
      expect(partial[held]).toBe(written.events[held]!.length)

      // The killed run recorded no completion: a run again completes it.
      const resumed = await runCli(['migrate', '--from', written.dataDir, '--to', target.url]).exited
      expect(resumed.code, resumed.stderr).toBe(0)
      // It started from what the killed run had copied, not from zero, and says it copied the rest.
      const already = Object.values(partial).reduce((sum, n) => sum + n, 0)
      expect(resumed.stderr).toContain(`events ${already}/${written.total}`)
      expect(resumed.stderr).toMatch(new RegExp(`this run copied \\d+ chunks of \\d+ documents, ${written.total - already} events of 1 conversations`))
      expect(resumed.stderr).toContain('verified:')
      expect(await copied()).toEqual(Object.fromEntries(written.ids.map(id => [id, written.events[id]!.length])))
      // Completed, and recorded so; its copy records (the webhooks it copied) are gone.
      expect(await pool.query('SELECT run, completed_at IS NOT NULL AS completed FROM parley_migration_runs ORDER BY completed')).toEqual([
        { run: expect.any(String), completed: false },
        { run: expect.any(String), completed: true },
      ])
      expect(await pool.query('SELECT * FROM parley_migrated_rows')).toEqual([])
    } finally {
      await pool.close()
    }
    await expectServedFrom(target.url)
  }, 90_000)

  it('verification names a conversation and a document the target lost', async () => {
    const target = await database()
    const summary = await migrateDataDirectory({ from: written.dataDir, to: target.url })
    expect(summary.verification.differences).toEqual([])
    const [first, second] = written.ids as [string, string]
    const pool = new PostgresPool(target.url, { max: 1 })
    try {
      await pool.query('DELETE FROM parley_events WHERE conversation_id = $1 AND seq = 7', [first])
      // The head document's newest chunk: its heads are no longer the source's.
      await pool.query("DELETE FROM parley_chunks WHERE key = (SELECT key FROM parley_chunks WHERE key >= $1 AND key < $2 ORDER BY seq DESC LIMIT 1)", [
        Buffer.from(`${second}\u0000`),
        Buffer.from(`${second}\u0001`),
      ])
    } finally {
      await pool.close()
    }
    const source = await openSource(written.dataDir)
    const opened = await openTarget(target.url)
    try {
      const { differences } = await verifyMigration(source, opened)
      expect(differences).toContainEqual(expect.stringMatching(new RegExp(`^conversation ${first}: the source has ${written.events[first]!.length} events .* the target ${written.events[first]!.length - 1} `)))
      expect(differences).toContainEqual(expect.stringMatching(new RegExp(`^document ${second}: (heads differ|missing)`)))
    } finally {
      await Promise.all([source.close(), opened.close()])
    }
  }, 60_000)

  it('refuses, before writing anything, a target holding another event under a number of the source', async () => {
    const target = await database()
    await (await openTarget(target.url)).close()
    const [first] = written.ids as [string]
    const pool = new PostgresPool(target.url, { max: 1 })
    try {
      await pool.query(`INSERT INTO parley_events (conversation_id, seq, event_id, event) VALUES ($1, 1, 'another-event', '{}')`, [first])
      await expect(migrateDataDirectory({ from: written.dataDir, to: target.url })).rejects.toThrow(new RegExp(`other event numbering[^]*${first}: seq 1 is event another-event in the target`))
      const [counts] = await pool.query<{ chunks: string; entries: string; events: string }>(
        'SELECT (SELECT count(*) FROM parley_chunks) AS chunks, (SELECT count(*) FROM parley_registry_entries) AS entries, (SELECT count(*) FROM parley_events) AS events',
      )
      expect(counts).toEqual({ chunks: '0', entries: '0', events: '1' })
    } finally {
      await pool.close()
    }
  }, 60_000)

  it('says what is wrong: a running server on the source, a path that is no data directory, an unreachable database', async () => {
    const target = await database()
    const server = await startTestServer({ dataDir: written.dataDir })
    try {
      const locked = await runCli(['migrate', '--from', written.dataDir, '--to', target.url]).exited
      expect(locked.code).toBe(1)
      expect(locked.stderr).toContain('PARLEY_ERR_DATA_LOCKED')
      expect(locked.stderr).toContain('stop the server first')
    } finally {
      await server.close()
    }
    const empty = await mkdtemp(join(tmpdir(), 'parley-not-data-'))
    try {
      const wrong = await runCli(['migrate', '--from', empty, '--to', target.url]).exited
      expect(wrong.code).toBe(2)
      expect(wrong.stderr).toContain('is not a Parley data directory')
    } finally {
      await rm(empty, { recursive: true, force: true })
    }
    const unreachable = await runCli(['migrate', '--from', written.dataDir, '--to', 'postgres://postgres@127.0.0.1:9/nothing']).exited
    expect(unreachable.code).toBe(2)
    expect(unreachable.stderr).toContain('cannot use the database postgres://127.0.0.1:9/nothing')
  }, 60_000)
})
