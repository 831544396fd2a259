/**
 * What the migrate tests share (migrate.test.ts, migrate-notifications.test.ts): a data
 * directory a real server wrote (thousands of events in several conversations: HTTP
 * publishes, sync clients sending, editing and reacting; a webhook queue for an offline
 * member), the migrate command as a process, target databases made and dropped per test
 * file, and the check that a server on a target serves what the source held.
 */
import { createClient, type Conversation, type ParleyClient, type TimelineItem } from '@parley/client'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, expect } from 'vitest'
import { migrateDataDirectory } from '../src/storage/migrate.ts'
import { openTarget } from '../src/storage/migrate-ends.ts'
import { PostgresPool } from '../src/storage/postgres/index.ts'
import { createTestDatabase, startTestServer, type PostgresTestDatabase, type TestServer } from '../src/testing.ts'

const BIN = fileURLToPath(new URL('../bin/parley-server.js', import.meta.url))
const CONVERSATIONS = 4
const HTTP_MESSAGES = 475
const CLIENT_MESSAGES = 30

interface Run {
  code: number | null
  stderr: string
}

/** The CLI as a process, without the machine's PARLEY_* variables. */
export function runCli(args: string[]): { child: ChildProcess; exited: Promise<Run> } {
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

export interface Written {
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


/** Registers the file's setup (the data directory, written once) and cleanup; `written` is set before the first test. */
export function migrateFixture() {
  const fixture = { written: undefined as unknown as Written }
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

  /** The verification's differences after one run from `dataDir` into a target that loses the rows `lossyTarget` says. */
  const differencesWhenLosing = async (dataDir: string, table: string, when: string): Promise<string[]> => {
    const lossy = await lossyTarget(table, when)
    try {
      return (await migrateDataDirectory({ from: dataDir, to: lossy.url })).verification.differences
    } finally {
      await lossy.pool.close()
    }
  }

  beforeAll(async () => {
    fixture.written = await writeDataDirectory()
  }, 120_000)
  afterAll(async () => {
    for (const one of databases) await one.drop()
    if (fixture.written) await rm(fixture.written.dataDir, { recursive: true, force: true })
  })

  /** A server on the database serves every conversation's events under the source's numbers, and the same timelines. */
  async function expectServedFrom(url: string): Promise<void> {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-migrated-'))
    const server = await startTestServer({ dataDir, postgres: url })
    try {
      for (const id of fixture.written.ids) expect(await allEvents(server, id), id).toEqual(fixture.written.events[id])
      expect(await timelines(server, fixture.written.ids, fixture.written.timelines)).toEqual(fixture.written.timelines)
      // The counter continues from the source's last number.
      const [first] = fixture.written.ids as [string]
      expect((await api(server, 'POST', `/v1/conversations/${first}/messages`, { text: 'after the move' })).seq).toBe(fixture.written.events[first]!.length + 1)
    } finally {
      await server.close()
      await rm(dataDir, { recursive: true, force: true })
    }
  }
  return Object.assign(fixture, { database, lossyTarget, differencesWhenLosing, expectServedFrom })
}
