/**
 * A numbering that fails (the store unreachable: PostgreSQL down) is tried again by the
 * event index itself (events/event-index.ts): the events are numbered once the store
 * answers, without anyone recording them again, in the order they were first given, and
 * before events of the conversation recorded later. On each backend, behind a store that
 * refuses appends while `down` is set (a deterministic stand-in for the outage; the real
 * one is test/reliability/cluster-faults.test.ts).
 */
import type { ParleyEvent } from '@parley/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EventIndex, type EventStore, type SequencedEvent } from '../../src/events/event-index.ts'
import { BACKENDS, openBackend, type OpenBackend } from './backends.ts'

const message = (id: string): ParleyEvent => ({ type: 'message', id, author: 'alice', device: 'd1', at: 1, text: id })

/** The store, refusing appends while `down`, and any of an event whose ID is in `poisoned` as PostgreSQL refuses bad data. */
function flaky(store: EventStore): EventStore & { down: boolean; refused: number; poisoned: Set<string> } {
  const wrapper = Object.create(store) as EventStore & { down: boolean; refused: number; poisoned: Set<string> }
  wrapper.down = false
  wrapper.refused = 0
  wrapper.poisoned = new Set()
  wrapper.append = (conversationId, events, options) => {
    if (events.some(event => wrapper.poisoned.has(event.id))) return Promise.reject(Object.assign(new Error('invalid input syntax'), { code: '22P02' }))
    if (wrapper.down) {
      wrapper.refused++
      return Promise.reject(new Error('connect ECONNREFUSED'))
    }
    return store.append(conversationId, events, options)
  }
  for (const name of ['lastSeq', 'seqOf', 'page', 'forget', 'claimUnnotified', 'notified'] as const) (wrapper as any)[name] = (store as any)[name].bind(store)
  return wrapper
}

async function until(what: string, done: () => boolean | Promise<boolean>): Promise<void> {
  for (let tries = 0; tries < 600; tries++) {
    if (await done()) return
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe.each(BACKENDS)('numbering retried after a failure, on %s', backend => {
  let opened: OpenBackend
  beforeAll(async () => {
    opened = await openBackend(backend)
  })
  afterAll(() => opened.close())

  it('numbers events refused during an outage once the store answers, by itself, in their order and before later events', async () => {
    const store = flaky(opened.databases.events)
    const index = new EventIndex(store, { retryMs: 50 })
    const numbered: SequencedEvent[] = []
    index.on('numbered', (_conversationId, events) => numbered.push(...events))
    await index.record('outage', [message('before')])
    store.down = true
    await expect(index.record('outage', [message('o1'), message('o2')])).rejects.toThrow('ECONNREFUSED')
    await expect(index.record('outage', [message('o3')])).rejects.toThrow('ECONNREFUSED')
    // Retried by itself meanwhile, and refused again.
    await until('a retry to be refused', () => store.refused >= 4)
    store.down = false
    await until('the events of the outage to be numbered', async () => (await index.lastSeq('outage')) === 4)
    const page = await index.page('outage', { after: 0 }, 10)
    expect(page.events.map(({ seq, event }) => [seq, event.id])).toEqual([[1, 'before'], [2, 'o1'], [3, 'o2'], [4, 'o3']])
    expect(numbered.map(({ seq, event }) => [seq, event.id])).toEqual([[1, 'before'], [2, 'o1'], [3, 'o2'], [4, 'o3']])
    index.close()
  })

  it('numbers held events first when the conversation records again before the retry', async () => {
    const store = flaky(opened.databases.events)
    const index = new EventIndex(store, { retryMs: 60_000 })
    store.down = true
    await expect(index.record('next', [message('n1')])).rejects.toThrow()
    store.down = false
    const recorded = await index.record('next', [message('n2')])
    // The caller gets its own events; the held one was numbered first.
    expect(recorded.map(({ seq, event }) => [seq, event.id])).toEqual([[2, 'n2']])
    expect((await index.page('next', { after: 0 }, 10)).events.map(({ seq, event }) => [seq, event.id])).toEqual([[1, 'n1'], [2, 'n2']])
    index.close()
  })

  it('does not hold an event the store refuses as bad data: the conversation\'s next events are numbered without it', async () => {
    const store = flaky(opened.databases.events)
    const index = new EventIndex(store, { retryMs: 60_000 })
    store.poisoned.add('bad')
    await expect(index.record('poison', [message('bad')])).rejects.toThrow('invalid input syntax')
    expect((await index.record('poison', [message('good')])).map(({ seq, event }) => [seq, event.id])).toEqual([[1, 'good']])
    index.close()
  })
})
