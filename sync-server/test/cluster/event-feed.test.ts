/**
 * The event index's side of HTTP interest (events/event-index.ts `follow` and `news`): two
 * nodes' indexes on one PostgreSQL database, the feed (the segment bus) stood in for by a
 * recorder. Waiters make the node join the conversation once and leave with the last;
 * news of another node's events is read back from the store and announced once, in order,
 * to this node's waiters, and read again shortly after (news may come before the numbers);
 * without waiters news reads nothing.
 */
import type { ParleyEvent } from '@parley/core'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { EventIndex, type EventFeed, type EventStore, type SequencedEvent } from '../../src/events/event-index.ts'
import { openDatabases, type Databases } from '../../src/storage/databases.ts'
import { createTestDatabase, type PostgresTestDatabase } from '../../src/testing.ts'

const message = (id: string): ParleyEvent => ({ type: 'message', id, author: 'alice', device: 'd1', at: 1, text: id })

class RecordingFeed implements EventFeed {
  readonly calls: string[] = []
  join(conversationId: string): void {
    this.calls.push(`join ${conversationId}`)
  }
  leave(conversationId: string): void {
    this.calls.push(`leave ${conversationId}`)
  }
}

/** The store with its page reads counted. */
function counting(store: EventStore): EventStore & { pages: number } {
  return {
    pages: 0,
    append: (conversationId, events, options) => store.append(conversationId, events, options),
    claimUnnotified: (graceMs, limit) => store.claimUnnotified(graceMs, limit),
    notified: events => store.notified(events),
    lastSeq: conversationId => store.lastSeq(conversationId),
    seqOf: (conversationId, eventId) => store.seqOf(conversationId, eventId),
    remoteLookups: store.remoteLookups,
    page(conversationId, cursor, limit) {
      this.pages++
      return store.page(conversationId, cursor, limit)
    },
    forget: conversationId => store.forget(conversationId),
  }
}

describe('the event index with a feed', () => {
  let database: PostgresTestDatabase
  const opened: Array<{ databases: Databases; dir: string }> = []

  async function node(): Promise<Databases> {
    const dir = await mkdtemp(join(tmpdir(), 'parley-feed-node-'))
    const databases = await openDatabases(dir, { retryMs: 1000, maxHeldBytes: 1 << 20, minFreeBytes: 0, postgres: database.url })
    opened.push({ databases, dir })
    return databases
  }

  beforeAll(async () => {
    database = await createTestDatabase()
  })
  afterAll(async () => {
    for (const { databases, dir } of opened) {
      await databases.close()
      await rm(dir, { recursive: true, force: true })
    }
    await database?.drop()
  })

  it('joins with the first waiter, leaves with the last, and keeps its starting point while waited on', async () => {
    const feed = new RecordingFeed()
    const index = new EventIndex((await node()).events, { feed })
    const writer = new EventIndex((await node()).events)
    const first = await index.follow('c1')
    const second = await index.follow('c1')
    expect(feed.calls).toEqual(['join c1'])
    first()
    first() // a second release of the same waiter counts once
    expect(feed.calls).toEqual(['join c1'])
    // Its head unloaded: the waiter still needs where announcements start.
    index.forget('c1')
    const heard: number[] = []
    index.on('stored', (_id, events) => heard.push(...events.map(({ seq }) => seq)))
    await writer.record('c1', [message('x')])
    await index.news('c1')
    expect(heard).toEqual([1])
    second()
    expect(feed.calls).toEqual(['join c1', 'leave c1'])
  })

  it("announces another node's events once, in order, to this node's waiters, and reads nothing without them", async () => {
    const [one, two] = [await node(), await node()]
    const writer = new EventIndex(one.events)
    const store = counting(two.events)
    // No reads again after news (below: they have a test of their own).
    const reader = new EventIndex(store, { feed: new RecordingFeed(), recheckMs: [] })
    await writer.record('c2', [message('a'), message('b')])

    // No waiter here: news costs nothing.
    await reader.news('c2')
    expect(store.pages).toBe(0)

    const heard: SequencedEvent[] = []
    reader.on('stored', (_id, events) => heard.push(...events))
    const release = await reader.follow('c2')
    await writer.record('c2', [message('c'), message('d')])
    // Three frames in a burst: one read serves those that arrive while it is queued.
    await Promise.all([reader.news('c2'), reader.news('c2'), reader.news('c2')])
    expect(store.pages).toBe(1)
    await reader.news('c2') // nothing new: read, nothing announced
    expect(store.pages).toBe(2)
    expect(heard.map(({ seq, event }) => [seq, event.id])).toEqual([
      [3, 'c'],
      [4, 'd'],
    ])

    // A long poll wakes for an event numbered elsewhere once the news comes.
    const woken = reader.waitFor('c2', 4, 30_000)
    await writer.record('c2', [message('e')])
    await reader.news('c2')
    expect(await woken).toBe(true)
    expect(heard.map(({ seq }) => seq)).toEqual([3, 4, 5])
    release()
  })

  it('reads the store again after news that came before the numbers (a node publishes a change before it numbers its events)', async () => {
    const [one, two] = [await node(), await node()]
    const writer = new EventIndex(one.events)
    const store = counting(two.events)
    const reader = new EventIndex(store, { feed: new RecordingFeed(), recheckMs: [20, 200] })
    const heard: string[] = []
    reader.on('stored', (_id, events) => heard.push(...events.map(({ event }) => event.id)))
    const release = await reader.follow('c3')
    await reader.news('c3')
    expect(heard).toEqual([])
    await writer.record('c3', [message('early')])
    await vi.waitFor(() => expect(heard).toEqual(['early']))
    // (That the reads stop after the last delay: test/news-rechecks.test.ts, on fake timers.)
    release()
    reader.close()
  })
})
