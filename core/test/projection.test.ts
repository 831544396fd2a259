import { describe, expect, it } from 'vitest'
import { project, unreadCount, type ParleyEvent, type ReadEvent } from '../src/index.ts'

let at = 0
function stamp<E extends Omit<ParleyEvent, 'at' | 'device'>>(event: E, device = 'd-alice'): ParleyEvent {
  return { device, at: ++at * 10, ...event } as unknown as ParleyEvent
}
const message = (id: string, author = 'alice', text = id) => stamp({ id, type: 'message', author, text })

describe('project', () => {
  it('applies the latest edit by total order, only from the author', () => {
    const events = [
      message('m1'),
      stamp({ id: 'e2', type: 'edit', author: 'alice', target: 'm1', text: 'second' }),
      stamp({ id: 'e1', type: 'edit', author: 'alice', target: 'm1', text: 'first' }),
      stamp({ id: 'x', type: 'edit', author: 'mallory', target: 'm1', text: 'forged' }),
    ]
    // e1 was stamped after e2, so it is the latest edit.
    expect(project(events)).toEqual([{ id: 'm1', author: 'alice', text: 'first', at: expect.any(Number), edited: true, reactions: {} }])
  })

  it('turns a delete into a tombstone that no edit revives; others cannot delete', () => {
    const events = [
      message('m1'),
      message('m2'),
      stamp({ id: 'd1', type: 'delete', author: 'alice', target: 'm1' }),
      stamp({ id: 'e1', type: 'edit', author: 'alice', target: 'm1', text: 'back?' }),
      stamp({ id: 'd2', type: 'delete', author: 'mallory', target: 'm2' }),
    ]
    const [first, second] = project(events)
    expect(first).toMatchObject({ id: 'm1', text: '', deleted: true })
    expect(first).not.toHaveProperty('edited')
    expect(second).toMatchObject({ id: 'm2', text: 'm2' })
    expect(second).not.toHaveProperty('deleted')
  })

  it('aggregates reactions per user and emoji, honouring removal, sorted', () => {
    const events = [
      message('m1'),
      stamp({ id: 'r1', type: 'reaction', author: 'carol', target: 'm1', emoji: '👍' }),
      stamp({ id: 'r2', type: 'reaction', author: 'bob', target: 'm1', emoji: '👍' }),
      stamp({ id: 'r3', type: 'reaction', author: 'bob', target: 'm1', emoji: '👍' }),
      stamp({ id: 'r4', type: 'reaction', author: 'bob', target: 'm1', emoji: '🎉' }),
      stamp({ id: 'r5', type: 'reaction', author: 'bob', target: 'm1', emoji: '🎉', remove: true }),
    ]
    expect(project(events)[0]!.reactions).toEqual({ '👍': ['bob', 'carol'] })
  })

  it('keeps a reaction named __proto__ or constructor as an emoji like any other (issue 13, item 3)', () => {
    const events = [
      message('m1'),
      stamp({ id: 'r1', type: 'reaction', author: 'bob', target: 'm1', emoji: '__proto__' }),
      stamp({ id: 'r2', type: 'reaction', author: 'carol', target: 'm1', emoji: 'constructor' }),
    ]
    const { reactions } = project(events)[0]!
    expect(Object.keys(reactions).sort()).toEqual(['__proto__', 'constructor'])
    expect(reactions['__proto__']).toEqual(['bob'])
    expect(reactions.toString).toBeUndefined()
  })

  it('applies an edit whose timestamp sorts before its message (skewed clock)', () => {
    const events: ParleyEvent[] = [
      { id: 'm1', type: 'message', author: 'alice', device: 'd', at: 100, text: 'orig' },
      { id: 'e1', type: 'edit', author: 'alice', device: 'd2', at: 50, target: 'm1', text: 'edited' },
    ]
    expect(project(events)[0]).toMatchObject({ text: 'edited', edited: true })
  })

  it('keeps only messages in the timeline and ignores modifiers of unknown messages', () => {
    const events = [
      message('m1'),
      stamp({ id: 't', type: 'title-changed', author: 'alice', title: 'x' }),
      stamp({ id: 'e', type: 'edit', author: 'alice', target: 'nope', text: 'x' }),
    ]
    expect(project(events).map(item => item.id)).toEqual(['m1'])
  })
})

describe('unreadCount', () => {
  const timeline = project([message('a1', 'alice'), message('b1', 'bob'), message('b2', 'bob'), message('b3', 'bob'), stamp({ id: 'd', type: 'delete', author: 'bob', target: 'b3' })])
  const receipt = (target: string, at = 0): ReadEvent => ({ id: 'r', type: 'read', author: 'alice', device: 'd', at, target })

  it('counts others’ messages when there is no cursor, not own or deleted ones', () => {
    expect(unreadCount(timeline, 'alice')).toBe(2)
  })

  it('counts nothing before the reader’s own last message: a reply reads what it answers', () => {
    const replied = project([message('b1', 'bob'), message('b2', 'bob'), message('a1', 'alice'), message('b3', 'bob')])
    expect(unreadCount(replied, 'alice')).toBe(1)
    expect(unreadCount(replied.slice(0, 3), 'alice')).toBe(0)
    expect(unreadCount(replied.slice(0, 3), 'alice', receipt('b1'))).toBe(0)
  })

  it('counts what comes after the cursor', () => {
    expect(unreadCount(timeline, 'alice', receipt('b1'))).toBe(1)
    expect(unreadCount(timeline, 'alice', receipt('b2'))).toBe(0)
  })

  it('falls back to the receipt’s time when its target is not loaded', () => {
    const b2 = timeline.find(item => item.id === 'b2')!
    expect(unreadCount(timeline, 'alice', receipt('older-page', b2.at - 1))).toBe(1)
    expect(unreadCount(timeline, 'alice', receipt('older-page', Number.MAX_SAFE_INTEGER))).toBe(0)
  })
})
