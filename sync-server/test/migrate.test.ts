/**
 * `parley-server migrate --from DIR --to postgres://…` (issue 16, item 3; storage/migrate.ts)
 * on a data directory a real server wrote (migrate-fixture.ts). The command runs as a
 * process; a server on PostgreSQL then serves the same events under the same numbers, and
 * the same timelines to a client; a killed run resumes; verification names what a target
 * lost; a target that disagrees, a running server or an unreachable database is refused.
 * What the node had yet to notify (webhooks, Web Push): migrate-notifications.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { migrateDataDirectory, openSource, openTarget, verifyMigration } from '../src/storage/migrate.ts'
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
    const pool = new PostgresPool(target.url, { max: 1 })
    try {
      const [queued] = await pool.query<{ count: string }>("SELECT count(*) FROM parley_webhooks WHERE notification->'recipients' ? 'carol'")
      expect(Number(queued!.count)).toBeGreaterThan(0)
    } finally {
      await pool.close()
    }

    await expectServedFrom(target.url)

    // The target has moved on (one more event): a second run refuses rather than merge.
    const again = await runCli(['migrate', '--from', written.dataDir, '--to', target.url]).exited
    expect(again.code).toBe(2)
    expect(again.stderr).toContain('other event numbering')
    expect(again.stderr).toContain(written.ids[0])
  }, 90_000)

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

      const resumed = await runCli(['migrate', '--from', written.dataDir, '--to', target.url]).exited
      expect(resumed.code, resumed.stderr).toBe(0)
      // It started from what the killed run had copied, not from zero.
      const already = Object.values(partial).reduce((sum, n) => sum + n, 0)
      expect(resumed.stderr).toContain(`events ${already}/${written.total}`)
      expect(resumed.stderr).toContain('verified:')
      expect(await copied()).toEqual(Object.fromEntries(written.ids.map(id => [id, written.events[id]!.length])))
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
