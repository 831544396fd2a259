/**
 * `parley-server migrate` and what a single node had yet to notify (issue 16, item 3;
 * storage/migrate.ts): events waiting for notification listed as not notified, once; the
 * Web Push queue and subscriptions copied, and a push delivered by a server on PostgreSQL;
 * a run again never brings back a notification a node delivered, or a subscription a user
 * removed, since an earlier run copied it, and completes an interrupted one, or one that
 * verified with differences; once a run completes, a run again is refused and the copy
 * records are deleted.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { migrateDataDirectory } from '../src/storage/migrate.ts'
import { openSource, openTarget } from '../src/storage/migrate-ends.ts'
import { verifyMigration } from '../src/storage/migrate-verify.ts'
import { Level } from 'level'
import { EVENTS_SUBLEVEL } from '../src/storage/level-event-store.ts'
import { PostgresEventStore, PostgresPool } from '../src/storage/postgres/index.ts'
import { startTestServer } from '../src/testing.ts'
import { PushService } from './push-service.ts'
import { migrateFixture, type Written } from './migrate-fixture.ts'

describe('parley-server migrate: notifications', () => {
  const fixture = migrateFixture()
  const { database, lossyTarget, differencesWhenLosing } = fixture
  let written: Written
  beforeAll(() => {
    written = fixture.written
  })

  it('lists the events still waiting for notification on the source as not notified, once, so the cluster hands them over', async () => {
    // The node stopped before its consumers were done with some events (a kill, a failing
    // webhook queue): its marks, as level-event-store.ts writes them, say which.
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-migrate-waiting-'))
    try {
      await cp(written.dataDir, dataDir, { recursive: true })
      const [first, second] = written.ids as [string, string]
      const [lastFirst, lastSecond] = [written.events[first]!.length, written.events[second]!.length]
      // The event index's keys, in the documents' database.
      const db = new Level<string, object>(join(dataDir, 'db'), { valueEncoding: 'json' })
      await db.sublevel<string, object>(EVENTS_SUBLEVEL, { valueEncoding: 'json' }).batch([
        // After lastFirst - 5, but for a run without consumers (the gap): three wait.
        { type: 'put', key: `u:${first}`, value: { conversationId: first, upTo: lastFirst - 5, gaps: [[lastFirst - 3, lastFirst - 2]] } },
        { type: 'put', key: `u:${second}`, value: { conversationId: second, upTo: lastSecond - 2 } },
      ])
      await db.close()
      const expected = [...[lastFirst - 4, lastFirst - 1, lastFirst].map(seq => `${first}:${seq}`), ...[lastSecond - 1, lastSecond].map(seq => `${second}:${seq}`)].sort()

      const target = await database()
      const summary = await migrateDataDirectory({ from: dataDir, to: target.url })
      expect(summary.verification.differences).toEqual([])
      expect(summary.waiting).toBe(5)
      const pool = new PostgresPool(target.url, { max: 2 })
      const listed = async () => (await pool.query<{ id: string; seq: string }>('SELECT conversation_id AS id, seq FROM parley_unnotified_events')).map(({ id, seq }) => `${id}:${seq}`).sort()
      try {
        expect(await listed()).toEqual(expected)
        // Due at once (as a single node's after a start), with the events the source numbered there.
        const claimed = await new PostgresEventStore(pool).claimUnnotified(10_000, 100)
        expect(claimed.map(({ conversationId, seq }) => `${conversationId}:${seq}`).sort()).toEqual(expected)
        for (const { conversationId, seq, event } of claimed) expect(written.events[conversationId]![seq - 1]).toMatchObject({ seq, id: event.id })

        // Handed over and taken off on the target, as a node does, then the migration run
        // again: not listed again, and no difference (the target did its job). The run again
        // is one after a run killed in its verification, having copied everything but recorded
        // no completion (a completed run's source is refused: migrate.test.ts).
        await new PostgresEventStore(pool).notified(claimed.filter(({ conversationId }) => conversationId === second))
        await pool.query('UPDATE parley_migration_runs SET completed_at = NULL')
        const again = await migrateDataDirectory({ from: dataDir, to: target.url })
        expect(again.waiting).toBe(0)
        expect(await listed()).toEqual(expected.filter(one => one.startsWith(first)))
        expect(again.verification.differences).toEqual([])
      } finally {
        await pool.close()
      }

      // A run whose listing of the second conversation's events is lost (a trigger drops
      // those rows): the verification names it.
      expect(await differencesWhenLosing(dataDir, 'parley_unnotified_events', `NEW.conversation_id = '${second.replaceAll("'", "''")}'`)).toEqual([
        `conversation ${second}: 2 events this run copied wait for notification on the source, 0 of them are listed as not notified in the target`,
      ])
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  }, 60_000)

  it('copies the Web Push queue and the subscriptions; a server on PostgreSQL delivers the push the single node had queued', async () => {
    const service = await PushService.start()
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-migrate-push-'))
    try {
      // The push service fails every push while the single node runs: carol's stays queued, retried.
      service.answer = () => 500
      const push = { agent: service.agent, allowPrivateEndpoints: true, backoff: { minMs: 5, maxMs: 20 }, maxAttempts: 1_000_000 }
      const single = await startTestServer({ dataDir, push })
      const call = async (user: string, url: string, body: object) =>
        (await single.server.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${await single.token(user)}` }, payload: body })).json() as Record<string, any>
      let sent: Record<string, any>
      let conversationId: string
      try {
        expect((await call('carol', '/v1/push/subscriptions', service.subscribe('carol-phone'))).id).toEqual(expect.any(String))
        conversationId = (await call('alice', '/v1/conversations', { title: 'Ops', members: ['carol'] })).id
        sent = await call('alice', `/v1/conversations/${conversationId}/messages`, { text: 'deploy done' })
        await service.waitForAnswers('carol-phone', 1)
      } finally {
        await single.close()
      }
      expect(service.received).toEqual([])

      const target = await database()
      const summary = await migrateDataDirectory({ from: dataDir, to: target.url })
      expect(summary.verification.differences).toEqual([])
      expect(summary).toMatchObject({ pushes: 1, pushSubscriptions: 1, waiting: 0 })
      const pool = new PostgresPool(target.url, { max: 1 })
      try {
        const queued = await pool.query<{ notification: Record<string, any> }>('SELECT notification FROM parley_push_queue')
        expect(queued.map(({ notification }) => notification)).toMatchObject([{ conversationId, seq: sent.seq, recipients: ['carol'] }])
        expect(await pool.query("SELECT user_id FROM parley_push_subscriptions WHERE device->>'endpoint' LIKE '%/push/carol-phone'")).toEqual([{ user_id: 'carol' }])

        // A queued push and a subscription no run copied (rows, record of their copy and of a
        // completed run gone, as if a run had stopped short of them): the verification names
        // them; a run again copies them.
        const [row] = await pool.query('DELETE FROM parley_push_queue RETURNING id')
        await pool.query('DELETE FROM parley_push_subscriptions')
        await pool.query('DELETE FROM parley_migrated_rows')
        await pool.query('DELETE FROM parley_migration_runs')
        const source = await openSource(dataDir)
        const opened = await openTarget(target.url)
        try {
          expect((await verifyMigration(source, opened)).differences).toEqual(['queued push notifications: 1 of 1 missing from the target', 'push subscriptions: 1 of 1 missing from the target'])
        } finally {
          await Promise.all([source.close(), opened.close()])
        }
        const again = await migrateDataDirectory({ from: dataDir, to: target.url })
        expect(again.verification.differences).toEqual([])
        expect(await pool.query('SELECT id FROM parley_push_queue')).toEqual([row])
      } finally {
        await pool.close()
      }

      // A node on PostgreSQL, signing with the single node's VAPID keys (docs/cluster.md), delivers it.
      service.answer = () => 201
      const vapid = JSON.parse(await readFile(join(dataDir, 'vapid.json'), 'utf8')) as { publicKey: string; privateKey: string }
      const clusterDir = await mkdtemp(join(tmpdir(), 'parley-migrated-push-'))
      const node = await startTestServer({ dataDir: clusterDir, postgres: target.url, push: { ...push, vapidPublicKey: vapid.publicKey, vapidPrivateKey: vapid.privateKey } })
      try {
        const [delivered] = await service.waitFor(1)
        expect(delivered).toMatchObject({ device: 'carol-phone', payload: { conversationId, seq: sent.seq, eventId: sent.eventId, sender: 'alice' }, vapid: { publicKey: vapid.publicKey } })
      } finally {
        await node.close()
        await rm(clusterDir, { recursive: true, force: true })
      }
    } finally {
      await service.close()
      await rm(dataDir, { recursive: true, force: true })
    }
  }, 60_000)

  it('a run again after one that verified with differences leaves out a webhook a node delivered and a push subscription a user removed; once complete, a run again is refused', async () => {
    // The shared data directory with two push subscriptions added to its registry (as push/subscriptions.ts stores them).
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-migrate-again-'))
    try {
      await cp(written.dataDir, dataDir, { recursive: true })
      const device = (id: string) => ({ id, endpoint: `https://push.example/${id}`, keys: { p256dh: 'p256dh', auth: 'auth' }, createdAt: 1_700_000_000_000 })
      const acl = new Level<string, object>(join(dataDir, 'acl'), { valueEncoding: 'json' })
      await acl.batch([
        { type: 'put', key: 'push:dave', value: [device('dave-phone')] },
        { type: 'put', key: 'push:erin', value: [device('erin-laptop')] },
      ])
      const [firstEntry] = await acl.keys({ gte: 'doc:', lt: 'doc;', limit: 1 }).all()
      await acl.close()

      // The first run loses a registry entry's write (a trigger drops it): it verifies with a
      // difference, so it records no completion and keeps its copy records.
      const target = await lossyTarget('parley_registry_entries', `NEW.document_id = '${firstEntry!.slice('doc:'.length).replaceAll("'", "''")}'`)
      const { pool } = target
      try {
        const first = await migrateDataDirectory({ from: dataDir, to: target.url })
        expect(first.verification.differences).toEqual([expect.stringMatching(/^registry entries: 1 of \d+ missing from the target$/)])
        expect(first.completed).toBeUndefined()
        expect(first.pushSubscriptions).toBe(2)
        await pool.query('DROP TRIGGER lose_row ON parley_registry_entries')
        const webhookIds = async () => (await pool.query<{ id: string }>('SELECT id FROM parley_webhooks ORDER BY id')).map(({ id }) => id)
        const subscriptions = async () => (await pool.query<{ user_id: string; id: string }>('SELECT user_id, id FROM parley_push_subscriptions ORDER BY user_id')).map(({ user_id, id }) => `${user_id}/${id}`)
        const queued = await webhookIds()
        expect(queued.length).toBe(first.webhooks)
        // A node delivers one webhook (and deletes its row); dave unsubscribes his phone.
        const [delivered] = await pool.query<{ id: string }>('DELETE FROM parley_webhooks WHERE id = $1 RETURNING id', [queued[0]])
        await pool.query("DELETE FROM parley_push_subscriptions WHERE user_id = 'dave'")

        // Neither is missing: an earlier run copied them.
        const source = await openSource(dataDir)
        const opened = await openTarget(target.url)
        try {
          expect((await verifyMigration(source, opened)).differences).toEqual([expect.stringMatching(/^registry entries: 1 of/)])
        } finally {
          await Promise.all([source.close(), opened.close()])
        }
        // The run again copies the lost entry alone, brings back neither, and completes.
        const again = await migrateDataDirectory({ from: dataDir, to: target.url })
        expect(again.verification.differences).toEqual([])
        expect(again).toMatchObject({ registry: { entries: 1, owners: 0, hashes: 0 }, events: 0, webhooks: 0, pushSubscriptions: 0, completed: { copyRecordsDeleted: first.webhooks + first.pushes + 2 } })
        expect(await webhookIds()).toEqual(queued.filter(id => id !== delivered!.id))
        expect(await subscriptions()).toEqual(['erin/erin-laptop'])
        expect(await pool.query('SELECT * FROM parley_migrated_rows')).toEqual([])

        // Complete: verifying alone accounts for what the cluster has delivered and removed
        // since, and a run again is refused before it writes anything.
        await pool.query('DELETE FROM parley_webhooks WHERE id = $1', [queued[1]])
        const again2Source = await openSource(dataDir)
        const again2Target = await openTarget(target.url)
        try {
          expect((await verifyMigration(again2Source, again2Target)).differences).toEqual([])
        } finally {
          await Promise.all([again2Source.close(), again2Target.close()])
        }
        await expect(migrateDataDirectory({ from: dataDir, to: target.url })).rejects.toThrow('was already migrated into')
        expect(await webhookIds()).toEqual(queued.filter(id => id !== delivered!.id && id !== queued[1]))
        expect(await subscriptions()).toEqual(['erin/erin-laptop'])
      } finally {
        await pool.close()
      }

      // What a run copies itself is still looked up: a subscription its statement lost (a trigger drops erin's) is named.
      expect(await differencesWhenLosing(dataDir, 'parley_push_subscriptions', "NEW.user_id = 'erin'")).toEqual(['push subscriptions: 1 of 2 missing from the target'])
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  }, 60_000)

  it('a run interrupted partway through the webhook queue is completed by a run again, without what a node delivered in between', async () => {
    const webhooks = new Level<string, string>(join(written.dataDir, 'webhooks'))
    let total = 0
    for await (const key of webhooks.keys()) if (/^[qd]:/.test(key)) total++ // queued and dead (webhooks/dispatcher.ts)
    await webhooks.close()
    expect(total).toBeGreaterThanOrEqual(20)
    // Ten rows a statement; the connection "drops" (the statement fails) once about half are in.
    const batchSize = 10
    const reached = Math.floor(total / 2 / batchSize) * batchSize

    const target = await database()
    await (await openTarget(target.url)).close()
    const pool = new PostgresPool(target.url, { max: 1 })
    try {
      await pool.query(`CREATE FUNCTION drop_connection() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        IF (SELECT count(*) FROM parley_webhooks) >= ${reached} THEN RAISE EXCEPTION 'connection lost'; END IF;
        RETURN NULL; END $$`)
      await pool.query('CREATE TRIGGER drop_connection BEFORE INSERT ON parley_webhooks FOR EACH STATEMENT EXECUTE FUNCTION drop_connection()')
      await expect(migrateDataDirectory({ from: written.dataDir, to: target.url, batchSize })).rejects.toThrow('connection lost')
      await pool.query('DROP TRIGGER drop_connection ON parley_webhooks')
      const copied = (await pool.query<{ id: string }>('SELECT id FROM parley_webhooks')).map(({ id }) => id)
      expect(copied.length).toBe(reached)

      // The cluster starts and delivers one of them before the migration is run again.
      await pool.query('DELETE FROM parley_webhooks WHERE id = $1', [copied[0]])
      const again = await migrateDataDirectory({ from: written.dataDir, to: target.url, batchSize })
      expect(again.verification.differences).toEqual([])
      // It copied the rest, and, complete, deleted the copy records of both runs.
      expect(again.webhooks).toBe(total - reached)
      expect(again.completed).toMatchObject({ copyRecordsDeleted: total })
      expect(await pool.query('SELECT * FROM parley_migrated_rows')).toEqual([])
      const ids = (await pool.query<{ id: string }>('SELECT id FROM parley_webhooks')).map(({ id }) => id)
      expect(ids).toHaveLength(total - 1)
      expect(ids).not.toContain(copied[0])
      expect(ids).toEqual(expect.arrayContaining(copied.slice(1)))
    } finally {
      await pool.close()
    }
  }, 60_000)

})
