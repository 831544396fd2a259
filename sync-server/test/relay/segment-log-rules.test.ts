/**
 * The relay core's segment rules (access/segment-log-rules.ts) over decoded changes and a
 * SegmentState, against the document rules (access/rules.ts) on the same changes: the
 * same verdict code for every case rules.test.ts tries, with no Automerge document.
 */
import { next as Automerge } from '@automerge/automerge'
import { appendEvent, DEFAULT_LIMITS, initSegment, scalar, segmentBytes, type SegmentDoc } from '@parley/core'
import { describe, expect, it } from 'vitest'
import { checkSegmentChanges } from '../../src/access/rules.ts'
import { checkSegmentLogChanges, foldSegment, isViolation, segmentGenesis } from '../../src/access/segment-log-rules.ts'

const decodeAll = (doc: Automerge.Doc<unknown>) => Automerge.getAllChanges(doc).map(bytes => Automerge.decodeChange(bytes))

function changesOf<T>(before: Automerge.Doc<T>, change: (doc: T) => void): Automerge.DecodedChange[] {
  const after = Automerge.change(Automerge.clone(before), change)
  return Automerge.getChanges(before, after).map(bytes => Automerge.decodeChange(bytes))
}

/** As automerge-repo's `create` then `change`: an empty first change, the fields next. */
function createdAsRepoDoes(conversation: string): Automerge.Doc<SegmentDoc> {
  return Automerge.change(Automerge.emptyChange(Automerge.init<SegmentDoc>()), doc => initSegment(doc, conversation))
}

describe('segment rules over a change log', () => {
  const segment = Automerge.change(createdAsRepoDoes('conv'), doc => appendEvent(doc, { id: 'a1', type: 'message', author: 'alice', device: 'd', at: 1, text: 'hi' }))
  const folded = foldSegment(decodeAll(segment), DEFAULT_LIMITS)!

  it('fold a stored segment into its state and events', () => {
    expect(folded.state).toMatchObject({ conversation: 'conv', count: 1 })
    expect(folded.state.bytes).toBe(segmentBytes(segment))
    expect(folded.events.map(event => event.id)).toEqual(['a1'])
  })

  it.each([
    ['the user’s own event', (doc: SegmentDoc) => appendEvent(doc, { id: 'b1', type: 'message', author: 'bob', device: 'd', at: 2, text: 'yo' })],
    ['an event at the front', (doc: SegmentDoc) => void doc.events.unshift(scalar(JSON.stringify({ id: 'b3', type: 'message', author: 'bob', device: 'd', at: 0, text: 'x' })))],
    ['a forged author', (doc: SegmentDoc) => appendEvent(doc, { id: 'b2', type: 'message', author: 'alice', device: 'd', at: 2, text: 'x' })],
    ['an overwritten event', (doc: SegmentDoc) => (doc.events[0] = scalar('{}'))],
    ['a deleted event', (doc: SegmentDoc) => void doc.events.splice(0, 1)],
    ['a changed conversation', (doc: SegmentDoc) => (doc.conversation = scalar('other'))],
    ['an invalid event', (doc: SegmentDoc) => void doc.events.push(scalar('not json'))],
    ['a text over the limit', (doc: SegmentDoc) => appendEvent(doc, { id: 'b4', type: 'message', author: 'bob', device: 'd', at: 2, text: 'x'.repeat(DEFAULT_LIMITS.maxTextBytes + 1) })],
    ['a member-added event by a plain member', (doc: SegmentDoc) => appendEvent(doc, { id: 'b5', type: 'member-added', author: 'bob', device: 'd', at: 2, member: 'eve', role: 'member' })],
  ])('give the document rules’ verdict for %s', (_name, change) => {
    const changes = changesOf(segment, change)
    const expected = checkSegmentChanges(segment, changes, 'bob', 'member', DEFAULT_LIMITS)
    const result = checkSegmentLogChanges(folded.state, changes, [], 'bob', 'member', DEFAULT_LIMITS)
    if (expected === undefined) {
      expect(isViolation(result)).toBe(false)
      expect(isViolation(result) ? 0 : result.state.count).toBe(2)
    } else expect(result).toMatchObject({ code: expected.code })
  })

  it('refuse appends past maxSegmentBytes (4413), counted in UTF-8 bytes, as the document rules do', () => {
    const limits = { ...DEFAULT_LIMITS, maxSegmentBytes: 2000 }
    const append = (text: string) => changesOf(segment, doc => appendEvent(doc, { id: 'b6', type: 'message', author: 'bob', device: 'd', at: 2, text }))
    expect(isViolation(checkSegmentLogChanges(folded.state, append('x'.repeat(1500)), [], 'bob', 'member', limits))).toBe(false)
    expect(checkSegmentLogChanges(folded.state, append('漢'.repeat(650)), [], 'bob', 'member', limits)).toMatchObject({ code: 4413, reason: expect.stringMatching(/at most 2000 bytes/) })
  })

  it('count changes restored from another user without checking them', () => {
    const changes = changesOf(segment, doc => appendEvent(doc, { id: 'c1', type: 'message', author: 'carol', device: 'd', at: 3, text: 'back' }))
    const result = checkSegmentLogChanges(folded.state, [], changes, 'bob', 'member', DEFAULT_LIMITS)
    expect(isViolation(result) ? result : result.state.count).toBe(2)
  })
})

describe('a new segment from its changes (segmentGenesis)', () => {
  it('reads the conversation and the events list from a repo-created segment (empty first change)', () => {
    const genesis = segmentGenesis(decodeAll(createdAsRepoDoes('conv-1')))
    expect(genesis).toMatchObject({ conversation: 'conv-1', bytes: 0, count: 0 })
  })

  it('holds back changes without the first one (undefined)', () => {
    const doc = createdAsRepoDoes('conv-1')
    expect(segmentGenesis(changesOf(doc, d => appendEvent(d, { id: 'x', type: 'message', author: 'bob', device: 'd', at: 1, text: 'x' })))).toBeUndefined()
  })

  it.each([
    ['another root field', (doc: SegmentDoc) => ((doc as unknown as Record<string, number>).extra = 1)],
    ['the conversation set twice', (doc: SegmentDoc) => (doc.conversation = scalar('other'))],
  ])('refuses %s', (_name, change) => {
    const doc = Automerge.change(createdAsRepoDoes('conv-1'), change)
    expect(segmentGenesis(decodeAll(doc))).toMatchObject({ code: 4403 })
  })

  it('refuses a document that is not a segment', () => {
    const doc = Automerge.change(Automerge.init<{ type: string }>(), d => (d.type = 'head'))
    expect(segmentGenesis(decodeAll(doc))).toMatchObject({ code: 4403, reason: 'not a well-formed segment' })
  })
})
