import type { TimelineItem } from '@parley/client'
import type { ReadEvent } from '@parley/core'
import { describe, expect, it } from 'vitest'
import { seenBy } from '../../src/ui/conversation/seen-by.ts'

const item = (id: string, author: string, at: number, extra: Partial<TimelineItem> = {}): TimelineItem => ({ id, author, text: id, at, reactions: {}, ...extra })
const read = (author: string, target: string, at: number): ReadEvent => ({ type: 'read', id: `r-${author}`, author, device: 'd', at, target })

const timeline = [item('a1', 'alice', 1), item('b1', 'bob', 2), item('a2', 'alice', 3), item('a3', 'alice', 4, { deleted: true }), item('c1', 'carol', 5), item('a4', 'alice', 6)]

describe('seen by', () => {
  it('shows each reader once, under the newest of my messages their cursor reached', () => {
    const seen = seenBy(timeline, { bob: read('bob', 'c1', 10), carol: read('carol', 'a4', 11) }, 'alice')
    // Bob read up to c1: the newest of mine at or before it is a2 (a3 is deleted).
    expect(Object.fromEntries(seen)).toEqual({ a2: ['bob'], a4: ['carol'] })
  })

  it('ignores my own receipt and places a cursor outside the loaded page by its time', () => {
    const seen = seenBy(timeline, { alice: read('alice', 'a4', 12), dave: read('dave', 'older-page', 3) }, 'alice')
    expect(Object.fromEntries(seen)).toEqual({ a2: ['dave'] })
  })

  it('lists several readers of one message in order', () => {
    const seen = seenBy(timeline, { carol: read('carol', 'a4', 11), bob: read('bob', 'a4', 12) }, 'alice')
    expect(seen.get('a4')).toEqual(['bob', 'carol'])
  })
})
