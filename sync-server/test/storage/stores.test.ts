/**
 * The registry's and the event index's stores, one suite run on each backend
 * (LevelDB, PostgreSQL): what the server relies on whichever it is given.
 */
import type { ParleyEvent } from '@parley/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DocEntry } from '../../src/access/registry.ts'
import { BACKENDS, openBackend, type OpenBackend } from './backends.ts'

const message = (id: string, text = id): ParleyEvent => ({ type: 'message', id, author: 'alice', device: 'd1', at: 1, text })

describe.each(BACKENDS)('stores on %s', backend => {
  let opened: OpenBackend
  beforeAll(async () => {
    opened = await openBackend(backend)
  })
  afterAll(() => opened.close())

  describe('event store', () => {
    it('numbers events 1, 2, 3 … in the order given, each event once, and keeps the first number of one given again', async () => {
      const store = opened.databases.events
      const first = await store.append('c1', [message('a'), message('b'), message('a')])
      expect(first.all.map(({ seq, event }) => [seq, event.id])).toEqual([[1, 'a'], [2, 'b'], [1, 'a']])
      expect(first.fresh.map(({ seq }) => seq)).toEqual([1, 2])
      const second = await store.append('c1', [message('b'), message('c')])
      expect(second.all.map(({ seq }) => seq)).toEqual([2, 3])
      expect(second.fresh.map(({ seq, event }) => [seq, event.id])).toEqual([[3, 'c']])
      expect(await store.append('c1', [message('c')])).toEqual({ all: [{ seq: 3, event: message('c') }], fresh: [] })
      expect(await store.lastSeq('c1')).toBe(3)
      expect(await store.seqOf('c1', 'b')).toBe(2)
      expect(await store.seqOf('c1', 'nope')).toBeUndefined()
      // Numbers are per conversation.
      expect((await store.append('c2', [message('a')])).all[0]!.seq).toBe(1)
      expect(await store.lastSeq('unknown')).toBe(0)
    })

    it('pages forward and back, oldest first, and stores the event as given', async () => {
      const store = opened.databases.events
      const events = Array.from({ length: 10 }, (_, i) => message(`p${i}`, `text ${i} "quoted" ✓`))
      await store.append('paged', events)
      expect((await store.page('paged', { after: 0 }, 3)).map(({ seq }) => seq)).toEqual([1, 2, 3])
      expect((await store.page('paged', { after: 8 }, 5)).map(({ seq }) => seq)).toEqual([9, 10])
      expect((await store.page('paged', { before: 5 }, 3)).map(({ seq }) => seq)).toEqual([2, 3, 4])
      expect((await store.page('paged', { before: 3 }, 5)).map(({ seq }) => seq)).toEqual([1, 2])
      expect((await store.page('paged', { after: 0 }, 100)).map(({ event }) => event)).toEqual(events)
      expect(await store.page('none', { after: 0 }, 10)).toEqual([])
    })
  })

  describe('registry store', () => {
    it('keeps entries (the last one written), actor owners and accepted hashes', async () => {
      const store = opened.databases.registry
      const members = Object.assign(Object.create(null), { alice: 'owner', ['__proto__']: 'member' }) as Record<string, 'owner' | 'member'>
      const head: DocEntry = { type: 'head', members }
      await Promise.all([store.setEntry('h', { type: 'inbox', user: 'x' }), store.setEntry('h', head), store.setEntry('s', { type: 'segment', conversation: 'h', creator: 'alice' })])
      const read = await store.entry('h')
      expect(read?.type === 'head' && Object.hasOwn(read.members, '__proto__')).toBe(true)
      expect(read?.type === 'head' && Object.keys(read.members).sort()).toEqual(['__proto__', 'alice'])
      expect(await store.entry('s')).toEqual({ type: 'segment', conversation: 'h', creator: 'alice' })
      expect(await store.entry('unknown')).toBeUndefined()

      await store.bindActor('actor-1', 'alice')
      expect(await store.actorOwner('actor-1')).toBe('alice')
      expect(await store.actorOwner('actor-2')).toBeUndefined()

      await Promise.all([store.accept(['h1', 'h2']), store.accept(['h2', 'h3']), store.accept([])])
      for (const hash of ['h1', 'h2', 'h3']) expect(await store.wasAccepted(hash)).toBe(true)
      expect(await store.wasAccepted('h4')).toBe(false)
    })
  })
})
