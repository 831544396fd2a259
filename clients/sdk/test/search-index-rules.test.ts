/**
 * The index applies edits and deletes by the rules of core projection.ts, whatever order
 * events arrive in, and applying an event twice changes nothing (message-index.ts).
 */
import { MODERATION_AUTHOR, type ParleyEvent } from '@parley/core'
import { describe, expect, it } from 'vitest'
import { MessageIndex } from '../src/search/message-index.ts'
import { SHARD_SIZE } from '../src/search/shard.ts'

const base = { device: 'd1' }
const message = (id: string, text: string, at: number, author = 'alice'): ParleyEvent => ({ ...base, type: 'message', id, author, at, text })
const edit = (id: string, target: string, text: string, at: number, author = 'alice'): ParleyEvent => ({ ...base, type: 'edit', id, target, author, at, text })
const del = (id: string, target: string, at: number, author = 'alice'): ParleyEvent => ({ ...base, type: 'delete', id, target, author, at })

const texts = (index: MessageIndex, query: string) =>
  index.search({ text: query, limit: 50, after: -Infinity, before: Infinity, accept: () => true }).map(match => match.x)

describe('the message index', () => {
  it('applies an edit or a delete that arrives before its message', () => {
    const index = new MessageIndex()
    index.apply('c', edit('e1', 'm1', 'second thoughts', 2))
    index.apply('c', del('x1', 'm2', 3))
    index.apply('c', message('m1', 'first thoughts', 1))
    index.apply('c', message('m2', 'gone thoughts', 1))
    expect(texts(index, 'thoughts')).toEqual(['second thoughts'])
  })

  it('keeps the last edit in the total order, whatever the arrival order', () => {
    const index = new MessageIndex()
    index.apply('c', message('m1', 'draft', 1))
    index.apply('c', edit('e2', 'm1', 'final', 3))
    index.apply('c', edit('e1', 'm1', 'revised', 2))
    expect(index.stored('m1')!.x).toBe('final')
    expect(texts(index, 'revised')).toEqual([])
  })

  it('ignores edits and deletes by anyone but the author, and events applied twice', () => {
    const index = new MessageIndex()
    const first = message('m1', 'original words', 1)
    index.apply('c', first)
    index.apply('c', edit('e1', 'm1', 'vandalised', 2, 'mallory'))
    index.apply('c', del('x1', 'm1', 3, 'mallory'))
    expect(index.apply('c', first)).toBe(false)
    expect(texts(index, 'original')).toEqual(['original words'])
    index.apply('c', del('x2', 'm1', 4))
    expect(index.apply('c', first)).toBe(false) // a late copy of a deleted message stays out
    expect(index.size).toBe(0)
  })

  it('survives its own state: a restored index answers the same', () => {
    const index = new MessageIndex()
    index.apply('c', message('m1', 'alpha beta', 1))
    index.apply('c', edit('e1', 'm9', 'early edit', 2))
    const state = { meta: index.meta(), shards: index.shards.map(shard => shard.state()) }
    const restored = new MessageIndex(JSON.parse(JSON.stringify(state)))
    expect(texts(restored, 'alpha')).toEqual(['alpha beta'])
    restored.apply('c', message('m9', 'late message', 1))
    expect(restored.stored('m9')!.x).toBe('early edit')
  })

  it('leaves out what moderation removed, until a later decision allows it; only the server decides', () => {
    const index = new MessageIndex()
    const decide = (id: string, target: string, decision: 'rejected' | 'allowed', at: number, extra: { edit?: string; author?: string } = {}): ParleyEvent => ({
      ...base,
      type: 'moderated',
      id,
      target,
      decision,
      reason: 'test',
      at,
      author: extra.author ?? MODERATION_AUTHOR,
      ...(extra.edit ? { edit: extra.edit } : {}),
    })
    index.apply('c', decide('d0', 'm2', 'rejected', 5)) // before its message arrives
    index.apply('c', message('m1', 'apple one', 1))
    index.apply('c', message('m2', 'apple two', 2))
    index.apply('c', message('m3', 'apple three', 3))
    index.apply('c', decide('d1', 'm1', 'rejected', 4))
    index.apply('c', decide('d2', 'm3', 'rejected', 4, { author: 'mallory' }))
    expect(texts(index, 'apple')).toEqual(['apple three'])
    index.apply('c', decide('d3', 'm1', 'allowed', 6))
    index.apply('c', decide('d4', 'm1', 'rejected', 5)) // older than the allow: changes nothing
    expect(texts(index, 'apple')).toEqual(['apple three', 'apple one'])
    index.apply('c', edit('e1', 'm3', 'apple rude', 7))
    index.apply('c', decide('d5', 'm3', 'rejected', 8, { edit: 'e1' }))
    expect(texts(index, 'apple')).toEqual(['apple one'])
    index.apply('c', edit('e2', 'm3', 'apple polite', 9))
    expect(texts(index, 'apple')).toEqual(['apple polite', 'apple one'])
  })

  it('takes hostile IDs and words as plain text (CONVENTIONS 17)', () => {
    const index = new MessageIndex()
    for (const name of ['__proto__', 'constructor', 'hasOwnProperty', 'toString']) {
      index.apply(name, message(name, `${name} prototype words`, 1, name))
      index.apply(name, edit(`e-${name}`, name, `${name} edited words`, 2, name))
    }
    expect(index.size).toBe(4)
    expect(texts(index, '__proto__')).toEqual(['__proto__ edited words'])
    expect(texts(index, 'constructor edited')).toEqual(['constructor edited words'])
    expect(index.stored('toString')).toMatchObject({ c: 'toString', a: 'toString', x: 'toString edited words' })
    expect(index.stored('valueOf')).toBeUndefined()
  })

  it('answers newest first across shards, reading only as many shards as it needs', () => {
    const index = new MessageIndex()
    const total = SHARD_SIZE * 3
    for (let i = 0; i < total; i++) index.apply(i % 2 ? 'odd' : 'even', message(`m${i}`, `common word ${i}`, i))
    expect(index.shards).toHaveLength(3)
    const searched: number[] = []
    index.shards.forEach((shard, i) => {
      const search = shard.mini.search.bind(shard.mini)
      shard.mini.search = ((...args: Parameters<typeof search>) => (searched.push(i), search(...args))) as typeof search
    })
    const query = { text: 'common', limit: 10, after: -Infinity, before: Infinity, accept: () => true }
    expect(index.search(query).map(match => match.t)).toEqual(Array.from({ length: 10 }, (_, i) => total - 1 - i))
    expect(searched).toEqual([2])
    // A filter that leaves the newest shard with too few: older shards are read, still newest first.
    searched.length = 0
    const rare = index.search({ ...query, text: `${SHARD_SIZE * 2 - 1}`, limit: 5 })
    expect(rare.map(match => match.id)).toEqual([`m${SHARD_SIZE * 2 - 1}`])
    expect(searched).toEqual([2, 1, 0])
    expect(index.search({ ...query, before: SHARD_SIZE, after: SHARD_SIZE - 3 }).map(match => match.t)).toEqual([SHARD_SIZE - 1, SHARD_SIZE - 2])
  })
})
