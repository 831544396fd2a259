/**
 * Numbering in groups (events/event-index.ts `record`): calls for a conversation made
 * while its numbering is in flight join one store write, numbered in the order the calls
 * came, and each caller gets its own events back. On each backend.
 */
import type { ParleyEvent } from '@parley/core'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { EventIndex, type EventStore } from '../../src/events/event-index.ts'
import { BACKENDS, openBackend, type OpenBackend } from './backends.ts'

const message = (id: string): ParleyEvent => ({ type: 'message', id, author: 'alice', device: 'd1', at: 1, text: id })

/** The store, counting appends and holding each one until released. */
function held(store: EventStore): EventStore & { appends: string[][]; release: () => void } {
  const wrapper = Object.create(store) as EventStore & { appends: string[][]; release: () => void }
  wrapper.appends = []
  let waiting: (() => void)[] = []
  wrapper.release = () => {
    for (const go of waiting.splice(0)) go()
  }
  wrapper.append = async (conversationId, events, options) => {
    wrapper.appends.push(events.map(event => event.id))
    await new Promise<void>(resolve => waiting.push(resolve))
    return store.append(conversationId, events, options)
  }
  for (const name of ['lastSeq', 'seqOf', 'page', 'forget', 'claimUnnotified', 'notified'] as const) (wrapper as any)[name] = (store as any)[name].bind(store)
  return wrapper
}

describe.each(BACKENDS)('numbering in groups, on %s', backend => {
  let opened: OpenBackend
  beforeAll(async () => {
    opened = await openBackend(backend)
  })
  afterAll(() => opened.close())

  it('numbers the calls made while a numbering is in flight in one write, in their order', async () => {
    const store = held(opened.databases.events)
    const index = new EventIndex(store)
    const first = index.record('busy', [message('a')])
    await vi.waitFor(() => expect(store.appends).toEqual([['a']]))
    const later = [index.record('busy', [message('b'), message('c')]), index.record('busy', [message('d')]), index.record('busy', [message('c'), message('e')])]
    store.release()
    expect((await first).map(({ seq, event }) => [seq, event.id])).toEqual([[1, 'a']])
    // One write for the three calls, not three.
    await vi.waitFor(() => expect(store.appends).toEqual([['a'], ['b', 'c', 'd', 'e']]))
    store.release()
    const [bc, d, ce] = await Promise.all(later)
    expect(bc!.map(({ seq, event }) => [seq, event.id])).toEqual([[2, 'b'], [3, 'c']])
    expect(d!.map(({ seq, event }) => [seq, event.id])).toEqual([[4, 'd']])
    expect(ce!.map(({ seq, event }) => [seq, event.id])).toEqual([[3, 'c'], [5, 'e']])
    expect((await index.page('busy', { after: 0 }, 10)).events.map(({ seq, event }) => [seq, event.id])).toEqual([[1, 'a'], [2, 'b'], [3, 'c'], [4, 'd'], [5, 'e']])
    index.close()
  })
})
