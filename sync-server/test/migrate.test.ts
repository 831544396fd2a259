/**
 * `parley-server migrate --from DIR --to postgres://…` (issue 16, item 3; storage/migrate.ts)
 * on a data directory a real server wrote: thousands of events in several conversations
 * (HTTP publishes, and sync clients sending, editing and reacting), a webhook queue for
 * an offline member. The command runs as a process; a server on PostgreSQL then serves
 * the same events under the same numbers, and the same timelines to a client. Events the
 * node had not handed to its consumers yet (its "notified up to" marks) wait in PostgreSQL.
 * A Web Push queued by a single node (and the device's subscription) is delivered by a
 * server on PostgreSQL. A run again never brings back a notification a node delivered, or a
 * subscription a user removed, since an earlier run copied it.
 */
import { createClient, type Conversation, type ParleyClient, type TimelineItem } from '@parley/client'
import { spawn, type ChildProcess } from 'node:child_process'
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrateDataDirectory, openSource, openTarget, verifyMigration } from '../src/storage/migrate.ts'
import { Level } from 'level'
import { PostgresEventStore, PostgresPool } from '../src/storage/postgres/index.ts'
import { createTestDatabase, startTestServer, type PostgresTestDatabase, type TestServer } from '../src/testing.ts'
import { PushService } from './push-service.ts'

const BIN = fileURLToPath(new URL('../bin/parley-server.js', import.meta.url))
const CONVERSATIONS = 4
const HTTP_MESSAGES = 475
const CLIENT_MESSAGES = 30

interface Run {
  code: number | null
  stderr: string
}

/** The CLI as a process, without the machine's PARLEY_* variables. */
function runCli(args: string[]): { child: ChildProcess; exited: Promise<Run> } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PARLEY_')))
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', chunk => (stderr += chunk))
  return { child, exited: new Promise(resolve => child.on('exit', code => resolve({ code, stderr }))) }
}

async function api(server: TestServer, method: 'GET' | 'POST', path: string, body?: object): Promise<any> {
  const response = await fetch(`${server.httpUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${await server.token('alice')}`, ...(body && { 'content-type': 'application/json' }) },
    ...(body && { body: JSON.stringify(body) }),
  })
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`)
  return response.json()
}

/** Every event of a conversation over HTTP, with its number. */
async function allEvents(server: TestServer, id: string): Promise<unknown[]> {
  const events: { seq: number }[] = []
  for (;;) {
    const page = await api(server, 'GET', `/v1/conversations/${id}/events?after=${events.at(-1)?.seq ?? 0}&limit=1000`)
    if (page.events.length === 0) return events
    events.push(...page.events)
  }
}

function timelineWhere(conversation: Conversation, predicate: (items: TimelineItem[]) => boolean): Promise<TimelineItem[]> {
  return new Promise(resolve => {
    const stop = conversation.subscribe(items => {
      if (!predicate(items)) return
      queueMicrotask(() => stop())
      resolve(items)
    })
  })
}

const view = (items: TimelineItem[]) => items.map(({ id, text, author, reactions, edited }) => ({ id, text, author, reactions, edited }))

/** What a fresh client of `server` shows of each conversation once it holds `expected` (or any last item). */
async function timelines(server: TestServer, ids: string[], expected?: Record<string, ReturnType<typeof view>>): Promise<Record<string, ReturnType<typeof view>>> {
  const client = await createClient({ server: server.url, token: () => server.token('carol'), storage: { kind: 'memory' } })
  try {
    const result: Record<string, ReturnType<typeof view>> = {}
    for (const id of ids) {
      const conversation = await client.conversation(id)
      const want = expected?.[id]
      const items = await timelineWhere(conversation, items => (want ? items.length === want.length && items.at(-1)?.id === want.at(-1)?.id : items.at(-1)?.text === `last of ${id}`))
      result[id] = view(items)
    }
    return result
  } finally {
    await client.close()
  }
}

interface Written {
  dataDir: string
  ids: string[]
  events: Record<string, unknown[]>
  timelines: Record<string, ReturnType<typeof view>>
  total: number
}

/** A data directory written by a real server and its clients, then stopped. */
async function writeDataDirectory(): Promise<Written> {
  const dataDir = await mkdtemp(join(tmpdir(), 'parley-migrate-'))
  // Port 9 (discard) refuses: carol's notifications stay queued, retried, in <data>/webhooks.
  // Thousands of HTTP publishes as fast as the server takes them: past the default 200 a second per user.
  const server = await startTestServer({ dataDir, webhookUrl: 'http://127.0.0.1:9/hook', webhookSecret: 'a-webhook-secret-of-length', messagesPerSecond: 100_000, messageBurst: 100_000 })
  const connect = (user: string) => createClient({ server: server.url, token: () => server.token(user), storage: { kind: 'memory' }, segmentSize: 100 })
  const clients: ParleyClient[] = [await connect('alice'), await connect('bob')]
  const [alice, bob] = clients as [ParleyClient, ParleyClient]
  try {
    const ids: string[] = []
    for (let c = 0; c < CONVERSATIONS; c++) {
      const conversation = await alice.createConversation({ title: `conversation ${c}`, members: ['bob', 'carol'] })
      ids.push(conversation.id)
      await alice.sync()
      for (let i = 0; i < HTTP_MESSAGES; i += 25) {
        await Promise.all(Array.from({ length: 25 }, (_, j) => api(server, 'POST', `/v1/conversations/${conversation.id}/messages`, { text: `http ${c}.${i + j}` })))
      }
      const sent: string[] = []
      for (let i = 0; i < CLIENT_MESSAGES; i++) sent.push(await conversation.send(`client ${c}.${i}`))
      await alice.sync()
      const bobs = await bob.conversation(conversation.id)
      await timelineWhere(bobs, items => items.some(item => item.id === sent.at(-1)))
      for (const id of sent.slice(-10)) await bobs.react(id, '👍')
      for (const id of sent.slice(-20, -10)) await conversation.edit(id, `edited ${id}`)
      await bobs.send(`last of ${conversation.id}`)
      await Promise.all([alice.sync(), bob.sync()])
    }
    const events: Record<string, unknown[]> = {}
    let total = 0
    for (const id of ids) {
      events[id] = await allEvents(server, id)
      total += events[id]!.length
    }
    const seen = await timelines(server, ids)
    return { dataDir, ids, events, timelines: seen, total }
  } finally {
    await Promise.all(clients.map(client => client.close()))
    await server.close()
  }
}

describe('parley-server migrate', () => {
  let written: Written
  const databases: PostgresTestDatabase[] = []
  const database = async () => {
    const one = await createTestDatabase()
    databases.push(one)
    return one
  }
  /** A new target database whose inserts into `table` that match `when` are dropped without an error (a trigger): a write that is lost. */
  const lossyTarget = async (table: string, when: string) => {
    const lossy = await database()
    await (await openTarget(lossy.url)).close()
    const pool = new PostgresPool(lossy.url, { max: 1 })
    await pool.query('CREATE FUNCTION lose_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$')
    await pool.query(`CREATE TRIGGER lose_row BEFORE INSERT ON ${table} FOR EACH ROW WHEN (${when}) EXECUTE FUNCTION lose_row()`)
    return { url: lossy.url, pool }
  }

  beforeAll(async () => {
    written = await writeDataDirectory()
  }, 120_000)
  afterAll(async () => {
    for (const one of databases) await one.drop()
    if (written) await rm(written.dataDir, { recursive: true, force: true })
  })

  /** A server on the database serves every conversation's events under the source's numbers, and the same timelines. */
  async function expectServedFrom(url: string): Promise<void> {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-migrated-'))
    const server = await startTestServer({ dataDir, postgres: url })
    try {
      for (const id of written.ids) expect(await allEvents(server, id), id).toEqual(written.events[id])
      expect(await timelines(server, written.ids, written.timelines)).toEqual(written.timelines)
      // The counter continues from the source's last number.
      const [first] = written.ids as [string]
      expect((await api(server, 'POST', `/v1/conversations/${first}/messages`, { text: 'after the move' })).seq).toBe(written.events[first]!.length + 1)
    } finally {
      await server.close()
      await rm(dataDir, { recursive: true, force: true })
    }
  }

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

  it('lists the events still waiting for notification on the source as not notified, once, so the cluster hands them over', async () => {
    // The node stopped before its consumers were done with some events (a kill, a failing
    // webhook queue): its marks, as level-event-store.ts writes them, say which.
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-migrate-waiting-'))
    try {
      await cp(written.dataDir, dataDir, { recursive: true })
      const [first, second] = written.ids as [string, string]
      const [lastFirst, lastSecond] = [written.events[first]!.length, written.events[second]!.length]
      const events = new Level<string, object>(join(dataDir, 'events'), { valueEncoding: 'json' })
      await events.batch([
        // After lastFirst - 5, but for a run without consumers (the gap): three wait.
        { type: 'put', key: `u:${first}`, value: { conversationId: first, upTo: lastFirst - 5, gaps: [[lastFirst - 3, lastFirst - 2]] } },
        { type: 'put', key: `u:${second}`, value: { conversationId: second, upTo: lastSecond - 2 } },
      ])
      await events.close()
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
        // again: not listed again, and no difference (the target did its job).
        await new PostgresEventStore(pool).notified(claimed.filter(({ conversationId }) => conversationId === second))
        const again = await migrateDataDirectory({ from: dataDir, to: target.url })
        expect(again.waiting).toBe(0)
        expect(await listed()).toEqual(expected.filter(one => one.startsWith(first)))
        expect(again.verification.differences).toEqual([])
      } finally {
        await pool.close()
      }

      // A run whose listing of the second conversation's events is lost (a trigger drops
      // those rows): the verification names it.
      const lossy = await lossyTarget('parley_unnotified_events', `NEW.conversation_id = '${second.replaceAll("'", "''")}'`)
      try {
        const lost = await migrateDataDirectory({ from: dataDir, to: lossy.url })
        expect(lost.verification.differences).toEqual([`conversation ${second}: 2 events this run copied wait for notification on the source, 0 of them are listed as not notified in the target`])
      } finally {
        await lossy.pool.close()
      }
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

        // A queued push and a subscription no run copied (rows and record of their copy gone, as
        // if a run had stopped short of them): the verification names them; a run again copies them.
        const [row] = await pool.query('DELETE FROM parley_push_queue RETURNING id')
        await pool.query('DELETE FROM parley_push_subscriptions')
        await pool.query('DELETE FROM parley_migrated_rows')
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

  it('a run again leaves out a webhook a node delivered and a push subscription a user removed since the first run', async () => {
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
      await acl.close()

      const target = await database()
      const first = await migrateDataDirectory({ from: dataDir, to: target.url })
      expect(first.verification.differences).toEqual([])
      expect(first.pushSubscriptions).toBe(2)
      const pool = new PostgresPool(target.url, { max: 1 })
      try {
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
          expect((await verifyMigration(source, opened)).differences).toEqual([])
        } finally {
          await Promise.all([source.close(), opened.close()])
        }
        const again = await migrateDataDirectory({ from: dataDir, to: target.url })
        expect(again.verification.differences).toEqual([])
        expect(await webhookIds()).toEqual(queued.filter(id => id !== delivered!.id))
        expect(await subscriptions()).toEqual(['erin/erin-laptop'])
      } finally {
        await pool.close()
      }

      // What a run copies itself is still looked up: a subscription its statement lost (a trigger drops erin's) is named.
      const lossy = await lossyTarget('parley_push_subscriptions', "NEW.user_id = 'erin'")
      try {
        const lost = await migrateDataDirectory({ from: dataDir, to: lossy.url })
        expect(lost.verification.differences).toEqual(['push subscriptions: 1 of 2 missing from the target'])
      } finally {
        await lossy.pool.close()
      }
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
      expect(again.webhooks).toBe(total)
      const ids = (await pool.query<{ id: string }>('SELECT id FROM parley_webhooks')).map(({ id }) => id)
      expect(ids).toHaveLength(total - 1)
      expect(ids).not.toContain(copied[0])
      expect(ids).toEqual(expect.arrayContaining(copied.slice(1)))
    } finally {
      await pool.close()
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
