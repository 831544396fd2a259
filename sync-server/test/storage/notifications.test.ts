/**
 * Events numbered but not notified (events/notifications.ts), on each backend: numbering
 * with `notify` lists the events in the same write; a node that dies before queueing their
 * notifications (here: an index that numbers with nothing listening, as a node killed
 * between the numbering and the enqueue leaves the store) leaves them listed, and another
 * node, or the restarted one, hands them to its handlers after the grace period and takes
 * them off the list. The kill is simulated by the store's state, not by a fault hook: the
 * numbering is one write, so this is the state any kill in that window leaves.
 */
import type { ParleyEvent } from '@parley/core'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EventIndex, type SequencedEvent } from '../../src/events/event-index.ts'
import { Notifications } from '../../src/events/notifications.ts'
import { openDatabases } from '../../src/storage/databases.ts'
import { BACKENDS, openBackend, type OpenBackend } from './backends.ts'

const message = (id: string): ParleyEvent => ({ type: 'message', id, author: 'alice', device: 'd1', at: 1, text: id })
const log = { warn: () => undefined, info: () => undefined }

/** A handler that records what it is handed, failing while `failing` is set, then waiting on `gate` when one is set. */
function recorder(only?: string) {
  const handed: string[] = []
  const state: { failing: boolean; gate?: Promise<void> } = { failing: false }
  const handler = async (conversationId: string, events: readonly SequencedEvent[]) => {
    if (only !== undefined && conversationId !== only) return
    if (state.failing) throw new Error('queue unreachable')
    for (const { seq, event } of events) handed.push(`${conversationId}:${seq}:${event.id}`)
    await state.gate
  }
  return { handed, handler, state }
}

describe.each(BACKENDS)('events not notified yet, on %s', backend => {
  let opened: OpenBackend
  beforeAll(async () => {
    opened = await openBackend(backend)
  })
  afterAll(() => opened.close())

  it('lists what is numbered with notify, in the numbering write, until taken off; claims only what is older than the grace', async () => {
    const store = opened.databases.events
    await store.append('list', [message('a'), message('b')], { notify: true })
    await store.append('list', [message('b'), message('c')], { notify: true })
    await store.append('list', [message('quiet')])
    // Listed just now: not yet claimable with a grace period.
    expect(await store.claimUnnotified(60_000, 10)).toEqual([])
    const claimed = await store.claimUnnotified(0, 10)
    expect(claimed.map(({ conversationId, seq, event }) => [conversationId, seq, event.id])).toEqual([['list', 1, 'a'], ['list', 2, 'b'], ['list', 3, 'c']])
    // Claimed: dated now, so not claimed again within the grace period.
    expect(await store.claimUnnotified(60_000, 10)).toEqual([])
    await store.notified([{ conversationId: 'list', seq: 1 }, { conversationId: 'list', seq: 3 }])
    expect((await store.claimUnnotified(0, 10)).map(({ seq }) => seq)).toEqual([2])
    await store.notified([{ conversationId: 'list', seq: 2 }])
    expect(await store.claimUnnotified(0, 10)).toEqual([])
  })

  it('hands events a dead node numbered and never notified to the next node, once, and takes them off the list', async () => {
    // The node that numbers and dies: its index lists the events, nothing queues their notifications.
    const dying = new EventIndex(opened.databases.events, { notify: true })
    await dying.record('crash', [message('x1'), message('x2')])
    // The next node (or the same one restarted) on the same store.
    const { handed, handler } = recorder()
    const next = new Notifications(new EventIndex(opened.databases.events, { notify: true }), opened.databases.events, { graceMs: 0, log })
    next.add(handler)
    expect(await next.scan()).toBe(2)
    await next.idle()
    expect(handed).toEqual(['crash:1:x1', 'crash:2:x2'])
    expect(await next.scan()).toBe(0)
    await next.close()
    expect(handed).toEqual(['crash:1:x1', 'crash:2:x2'])
  })

  it('hands newly numbered events to the handlers once, and what a handler failed on again later', async () => {
    const index = new EventIndex(opened.databases.events, { notify: true })
    const { handed, handler, state } = recorder()
    const notifications = new Notifications(index, opened.databases.events, { graceMs: 0, scanMs: 60_000, log })
    notifications.add(handler)
    notifications.start()
    await notifications.idle()
    await index.record('live', [message('l1')])
    await notifications.idle()
    expect(handed).toEqual(['live:1:l1'])
    expect(await notifications.scan()).toBe(0)
    state.failing = true
    await index.record('live', [message('l2')])
    await notifications.idle()
    expect(handed).toEqual(['live:1:l1'])
    state.failing = false
    // The queue is back: the next look hands l2 over.
    expect(await notifications.scan()).toBe(1)
    await notifications.idle()
    expect(handed).toEqual(['live:1:l1', 'live:2:l2'])
    expect(await notifications.scan()).toBe(0)
    await notifications.close()
  })

  it('hands an event again only to the handler that failed on it, never to one done or still at it, and keeps it listed until all are done', async () => {
    const index = new EventIndex(opened.databases.events, { notify: true })
    const webhook = recorder('several')
    const broker = recorder('several')
    const review = recorder('several')
    const notifications = new Notifications(index, opened.databases.events, { graceMs: 0, scanMs: 60_000, log })
    for (const { handler } of [webhook, broker, review]) notifications.add(handler)
    notifications.start()
    await notifications.idle()
    broker.state.failing = true
    let open!: () => void
    review.state.gate = new Promise(resolve => (open = resolve))
    await index.record('several', [message('s1')])
    await new Promise(resolve => setImmediate(resolve))
    expect([webhook.handed, broker.handed, review.handed]).toEqual([['several:1:s1'], [], ['several:1:s1']])
    // The broker failed, the review still runs: claimed again, handed to the broker alone.
    broker.state.failing = false
    expect(await notifications.scan()).toBe(1)
    expect([webhook.handed, broker.handed, review.handed]).toEqual([['several:1:s1'], ['several:1:s1'], ['several:1:s1']])
    // Still listed while the review runs.
    expect((await opened.databases.events.claimUnnotified(0, 100)).map(({ conversationId, seq }) => `${conversationId}:${seq}`)).toContain('several:1')
    open()
    await notifications.idle()
    expect(await notifications.scan()).toBe(0)
    expect([webhook.handed, broker.handed, review.handed]).toEqual([['several:1:s1'], ['several:1:s1'], ['several:1:s1']])
    await notifications.close()
  })
})

describe('events not notified yet, on PostgreSQL shared by two nodes', () => {
  let opened: OpenBackend
  beforeAll(async () => {
    opened = await openBackend('PostgreSQL')
  })
  afterAll(() => opened.close())

  it('lets two nodes claiming at once take each listed event once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-notify-'))
    const other = await openDatabases(dir, { retryMs: 1000, maxHeldBytes: 1 << 20, minFreeBytes: 0, postgres: opened.url })
    try {
      const events = Array.from({ length: 40 }, (_, i) => message(`race${i}`))
      await opened.databases.events.append('race', events, { notify: true })
      // Listed an hour ago (a node that died then): claimable with a grace of a minute, and
      // each claim dates its rows now, so no other claim takes them within that minute.
      await opened.databases.postgres!.query(`UPDATE parley_unnotified_events SET since = now() - interval '1 hour' WHERE conversation_id = 'race'`)
      const claims = await Promise.all([opened.databases.events, other.events, opened.databases.events, other.events].map(store => store.claimUnnotified(60_000, 15)))
      const seqs = claims.flatMap(claim => claim.filter(({ conversationId }) => conversationId === 'race').map(({ seq }) => seq)).sort((a, b) => a - b)
      expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
    } finally {
      await other.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
