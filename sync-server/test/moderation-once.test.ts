/**
 * The server's `moderated` event is written once per judged event and decision
 * (moderation/moderator.ts): a message reviewed again finds the decision written before
 * even when this node's index of decisions does not have it (a kill between the event and
 * the index, another node's decision, an index lost), and indexes that one.
 *
 * The state such a review meets is made by hand: the message decided, then the server
 * stopped, its decisions' index (`<data>/moderation`) removed and the message listed as not
 * reviewed again (LevelDB: its "notified up to" mark; PostgreSQL: parley_unnotified_events,
 * due at once), as a kill after the decision's write leaves them.
 */
import type { ModeratedEvent } from '@parley/core'
import { Level } from 'level'
import { EVENTS_SUBLEVEL } from '../src/storage/level-event-store.ts'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { mintToken } from '../src/auth/tokens.ts'
import { PostgresPool } from '../src/storage/postgres/index.ts'
import { createTestDatabase, startTestServer, type TestServer } from '../src/testing.ts'
import { decisionAbout, decisionsAbout } from './moderation-helpers.ts'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function api(server: TestServer, path: string, body?: unknown, admin = false): Promise<any> {
  const token = admin ? await mintToken(server.secret, 'ops', { admin: true }) : await server.token('alice')
  const response = await fetch(`${server.httpUrl}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`)
  return response.json()
}

describe.each(['LevelDB', 'PostgreSQL'] as const)('the server’s decision about a message, on %s', backend => {
  it('is written once when the message is reviewed again without this node’s index of decisions', { timeout: 60_000 }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-moderation-once-'))
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }))
    const words = join(dataDir, '..', `${dataDir.split('/').at(-1)}-words.txt`)
    await writeFile(words, '?watchword\n')
    cleanups.push(() => rm(words, { force: true }))
    const database = backend === 'PostgreSQL' ? await createTestDatabase() : undefined
    if (database) cleanups.push(() => database.drop())
    const start = () => startTestServer({ dataDir, moderationWords: words, ...(database && { postgres: database.url }) })

    const first = await start()
    const { id } = await api(first, '/v1/conversations', { members: ['bob'] })
    const { eventId, seq } = await api(first, `/v1/conversations/${id}/messages`, { text: 'a watchword here' })
    // (Over HTTP, with its number.)
    const decided = (await decisionAbout(first, 'alice', id, eventId)) as ModeratedEvent & { seq: number }
    expect(decided).toMatchObject({ decision: 'flagged' })
    await first.close()

    await rm(join(dataDir, 'moderation'), { recursive: true, force: true })
    if (database) {
      const pool = new PostgresPool(database.url, { max: 1 })
      await pool.query(`INSERT INTO parley_unnotified_events (conversation_id, seq, since) VALUES ($1, $2, 'epoch')`, [id, seq])
      await pool.close()
    } else {
      // The event index's keys, in the documents' database.
      const db = new Level<string, object>(join(dataDir, 'db'), { valueEncoding: 'json' })
      await db.sublevel<string, object>(EVENTS_SUBLEVEL, { valueEncoding: 'json' }).put(`u:${id}`, { conversationId: id, upTo: seq - 1 })
      await db.close()
    }

    const second = await start()
    cleanups.push(() => second.close())
    // Reviewed again: the decision is back in the operators' index (it is written after the event).
    let listed: any[] = []
    for (let waited = 0; listed.length === 0; waited += 50) {
      if (waited > 30_000) throw new Error('the message was not reviewed again')
      await sleep(50)
      listed = (await api(second, '/v1/admin/moderation', undefined, true)).decisions
    }
    expect(listed).toEqual([expect.objectContaining({ conversationId: id, target: eventId, decision: 'flagged', eventId: decided.id, seq: decided.seq })])
    expect((await decisionsAbout(second, 'alice', id, eventId)).map(event => event.id)).toEqual([decided.id])
  })
})
