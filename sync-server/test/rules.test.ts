/** The write rules on hand-built Automerge changes, without a server. */
import { next as Automerge } from '@automerge/automerge'
import { addMember, addToInbox, appendEvent, DEFAULT_LIMITS, inboxGenesis, INHERITED_NAMES, initHead, initSegment, removeFromInbox, scalar, setTitle, type HeadDoc, type InboxDoc, type SegmentDoc } from '@parley/core'
import { describe, expect, it } from 'vitest'
import { checkHeadChanges, checkInboxChanges, checkNewDocumentOps, checkNewHead, checkSegmentChanges } from '../src/access/rules.ts'

/** The decoded changes that turn `before` into `change(before)`. */
function changesOf<T>(before: Automerge.Doc<T>, change: (doc: T) => void): Automerge.DecodedChange[] {
  const after = Automerge.change(Automerge.clone(before), change)
  return Automerge.getChanges(before, after).map(bytes => Automerge.decodeChange(bytes))
}

describe('inbox changes', () => {
  const inbox = Automerge.load<InboxDoc>(inboxGenesis('alice'))

  it('allow the server’s own kind of write: entries added and removed', () => {
    expect(checkInboxChanges(inbox, changesOf(inbox, doc => addToInbox(doc, 'conv-1', 5)))).toBeUndefined()
    const withEntry = Automerge.change(Automerge.clone(inbox), doc => addToInbox(doc, 'conv-1', 5))
    expect(checkInboxChanges(withEntry, changesOf(withEntry, doc => removeFromInbox(doc, 'conv-1')))).toBeUndefined()
  })

  it('refuse anything else', () => {
    expect(checkInboxChanges(inbox, changesOf(inbox, doc => (doc.user = scalar('mallory'))))).toMatchObject({ code: 4403 })
    expect(checkInboxChanges(inbox, changesOf(inbox, doc => ((doc as unknown as Record<string, unknown>).extra = 1)))).toMatchObject({ code: 4403 })
  })
})

describe('segment changes', () => {
  const segment = Automerge.change(Automerge.init<SegmentDoc>(), doc => {
    initSegment(doc, 'conv')
    appendEvent(doc, { id: 'a1', type: 'message', author: 'alice', device: 'd', at: 1, text: 'hi' })
  })
  const check = (change: (doc: SegmentDoc) => void, user = 'bob') => checkSegmentChanges(segment, changesOf(segment, change), user, 'member', DEFAULT_LIMITS)

  it('allow adding the user’s own events, wherever in the list (order comes from each event’s clock)', () => {
    expect(check(doc => appendEvent(doc, { id: 'b1', type: 'message', author: 'bob', device: 'd', at: 2, text: 'yo' }))).toBeUndefined()
    expect(check(doc => void doc.events.unshift(scalar(JSON.stringify({ id: 'b3', type: 'message', author: 'bob', device: 'd', at: 0, text: 'x' }))))).toBeUndefined()
  })

  it.each([
    ['a forged author', (doc: SegmentDoc) => appendEvent(doc, { id: 'b2', type: 'message', author: 'alice', device: 'd', at: 2, text: 'x' }), 4403],
    ['an overwritten event', (doc: SegmentDoc) => (doc.events[0] = scalar('{}')), 4403],
    ['a deleted event', (doc: SegmentDoc) => void doc.events.splice(0, 1), 4403],
    ['a changed conversation', (doc: SegmentDoc) => (doc.conversation = scalar('other')), 4403],
    ['an invalid event', (doc: SegmentDoc) => void doc.events.push(scalar('not json')), 4400],
    ['a text over the limit', (doc: SegmentDoc) => appendEvent(doc, { id: 'b4', type: 'message', author: 'bob', device: 'd', at: 2, text: 'x'.repeat(DEFAULT_LIMITS.maxTextBytes + 1) }), 4413],
    ['a member-added event by a plain member', (doc: SegmentDoc) => appendEvent(doc, { id: 'b5', type: 'member-added', author: 'bob', device: 'd', at: 2, member: 'eve', role: 'member' }), 4403],
  ])('refuse %s', (_name, change, code) => {
    expect(check(change)).toMatchObject({ code })
  })

  it('refuse appends that take a segment past maxSegmentBytes (4413), counted in UTF-8 bytes', () => {
    const limits = { ...DEFAULT_LIMITS, maxSegmentBytes: 2000 }
    const append = (text: string) => changesOf(segment, doc => appendEvent(doc, { id: 'b6', type: 'message', author: 'bob', device: 'd', at: 2, text }))
    expect(checkSegmentChanges(segment, append('x'.repeat(1500)), 'bob', 'member', limits)).toBeUndefined()
    // 650 three-byte characters: under 2,000 characters, over 2,000 bytes with the rest.
    expect(checkSegmentChanges(segment, append('漢'.repeat(650)), 'bob', 'member', limits)).toMatchObject({ code: 4413, reason: expect.stringMatching(/at most 2000 bytes/) })
  })
})

describe('names every object inherits (issue 13, item 3)', () => {
  const head = Automerge.change(Automerge.init<HeadDoc>({ actor: 'aa'.repeat(16) }), doc =>
    initHead(doc, { kind: 'group', title: 'members only', creator: 'alice', members: ['bob'], at: 1, firstSegment: 'segment' }),
  )

  it.each(INHERITED_NAMES)('%s is no member: its head changes are refused', name => {
    expect(checkHeadChanges(head, changesOf(head, doc => setTitle(doc, 'mine')), name, DEFAULT_LIMITS)).toMatchObject({ violation: { code: 4403, reason: 'not a member of this conversation' } })
  })

  it.each(INHERITED_NAMES)('an owner may not add a member named %s', name => {
    expect(checkHeadChanges(head, changesOf(head, doc => addMember(doc, name, 'member', 'alice', 2)), 'alice', DEFAULT_LIMITS)).toMatchObject({ violation: { code: 4403, reason: expect.stringMatching(/not a valid user ID/) } })
  })

  it.each(INHERITED_NAMES)('a new head may not list a member named %s', name => {
    const created = Automerge.change(Automerge.init<HeadDoc>(), doc => initHead(doc, { kind: 'group', title: 't', creator: 'alice', members: ['bob', name], at: 1, firstSegment: 'segment' }))
    expect(checkNewHead(created, 'alice', DEFAULT_LIMITS)).toMatchObject({ violation: { code: 4403 } })
  })

  it('still lets the owner add an ordinary member', () => {
    expect(checkHeadChanges(head, changesOf(head, doc => addMember(doc, 'carol', 'member', 'alice', 2)), 'alice', DEFAULT_LIMITS)).toEqual({ segments: [] })
  })
})

describe('new documents, before they are applied (issue 13, item 1)', () => {
  const decoded = (doc: Automerge.Doc<unknown>) => Automerge.getAllChanges(doc).map(bytes => Automerge.decodeChange(bytes))

  it('let through heads and segments as clients make them', () => {
    const head = Automerge.change(Automerge.init<HeadDoc>(), doc => initHead(doc, { kind: 'group', title: 't', creator: 'alice', members: ['bob'], at: 1, firstSegment: 'segment' }))
    const segment = Automerge.change(Automerge.init<SegmentDoc>(), doc => {
      initSegment(doc, 'conversation')
      appendEvent(doc, { id: 'a1', type: 'message', author: 'alice', device: 'd', at: 1, text: 'hi' })
    })
    expect(checkNewDocumentOps(decoded(head))).toBeUndefined()
    expect(checkNewDocumentOps(decoded(segment))).toBeUndefined()
  })

  it('refuse documents of no Parley type, and lists of anything but strings, without applying them', () => {
    const untyped = Automerge.change(Automerge.init<{ note: unknown }>(), doc => void (doc.note = scalar('anything')))
    const nulls = Automerge.change(Automerge.init<{ type: unknown; events: null[] }>(), doc => {
      doc.type = scalar('parley/segment')
      doc.events = new Array(4_000).fill(null)
    })
    expect(checkNewDocumentOps(decoded(untyped))).toMatchObject({ code: 4403, reason: expect.stringMatching(/not a Parley document/) })
    expect(checkNewDocumentOps(decoded(nulls))).toMatchObject({ code: 4403, reason: expect.stringMatching(/only strings in lists/) })
  })
})
