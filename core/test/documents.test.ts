import { isValidDocumentId } from '@automerge/automerge-repo'
import { next as Automerge } from '@automerge/automerge'
import { describe, expect, it } from 'vitest'
import {
  addMember,
  addSegment,
  addToInbox,
  appendEvent,
  bareDocumentId,
  inboxDocumentId,
  inboxGenesis,
  initHead,
  INHERITED_NAMES,
  initSegment,
  isSegmentFull,
  isValidUserId,
  memberRole,
  project,
  SEGMENT_BYTES,
  segmentBytes,
  readHead,
  readInbox,
  readSegmentEvents,
  removeMember,
  scalar,
  setReadCursor,
  type HeadDoc,
  type InboxDoc,
  type ParleyEvent,
  type SegmentDoc,
} from '../src/index.ts'
import { messageEvent } from '../src/testing.ts'

const newHead = () =>
  Automerge.change(Automerge.init<HeadDoc>(), doc =>
    initHead(doc, { kind: 'group', title: 'plans', creator: 'alice', members: ['bob', 'alice'], at: 5, firstSegment: 'seg-1' }),
  )
const newSegment = () => Automerge.change(Automerge.init<SegmentDoc>(), doc => initSegment(doc, 'head-1'))

describe('head documents', () => {
  it('round-trips kind, title, members with roles, segments and read receipts', () => {
    let head = newHead()
    head = Automerge.change(head, doc => {
      addMember(doc, 'carol', 'admin', 'alice', 6)
      removeMember(doc, 'bob')
      addSegment(doc, 'seg-2')
      setReadCursor(doc, { id: 'r', type: 'read', author: 'carol', device: 'd', at: 7, target: 'm1' })
    })
    expect(readHead(head)).toEqual({
      kind: 'group',
      title: 'plans',
      createdBy: 'alice',
      createdAt: 5,
      members: { alice: { role: 'owner', addedBy: 'alice', at: 5 }, carol: { role: 'admin', addedBy: 'alice', at: 6 } },
      segments: ['seg-1', 'seg-2'],
      reads: { carol: { id: 'r', type: 'read', author: 'carol', device: 'd', at: 7, target: 'm1' } },
    })
  })

  it('stores strings as scalars, not collaborative text', () => {
    const head = newHead()
    expect(typeof head.title).toBe('object')
    expect(head.title).toBeInstanceOf(scalar('x').constructor)
  })

  it('ignores a read receipt filed under another member', () => {
    const head = Automerge.change(newHead(), doc => {
      doc.reads.bob = scalar(JSON.stringify({ id: 'r', type: 'read', author: 'alice', device: 'd', at: 1, target: 'm' }))
    })
    expect(readHead(head).reads).toEqual({})
  })
})

describe('segment documents', () => {
  it('round-trips events and skips corrupt entries, counting them', () => {
    const events = [messageEvent(), messageEvent()]
    const segment = Automerge.change(newSegment(), doc => {
      for (const event of events) appendEvent(doc, event)
      doc.events.push(scalar('{not json'))
      doc.events.push(scalar(JSON.stringify({ ...events[0], type: 'poke' })))
    })
    expect(readSegmentEvents(segment)).toEqual({ events, invalid: 2 })
    expect(readSegmentEvents(segment, 1).events).toEqual([events[1]])
  })

  it('merges concurrent appends from two replicas into the same events and timeline', () => {
    const origin = newSegment()
    const left = Automerge.change(Automerge.clone(origin, { actor: 'aa'.repeat(16) }), doc => appendEvent(doc, messageEvent({ author: 'alice', device: 'a' })))
    const right = Automerge.change(Automerge.clone(origin, { actor: 'bb'.repeat(16) }), doc => appendEvent(doc, messageEvent({ author: 'bob', device: 'b' })))
    const one = Automerge.merge(Automerge.clone(left), right)
    const two = Automerge.merge(Automerge.clone(right), left)
    const eventsOf = (doc: SegmentDoc): ParleyEvent[] => readSegmentEvents(doc).events
    expect(eventsOf(one)).toHaveLength(2)
    expect(project(eventsOf(one))).toEqual(project(eventsOf(two)))
  })

  it('is full at the segment size', () => {
    let segment = newSegment()
    segment = Automerge.change(segment, doc => {
      for (let i = 0; i < 3; i++) appendEvent(doc, messageEvent())
    })
    expect(isSegmentFull(segment, 3)).toBe(true)
    expect(isSegmentFull(segment, 4)).toBe(false)
  })

  it('is full at SEGMENT_BYTES of event JSON, counted in UTF-8, whatever its event count', () => {
    const encoder = new TextEncoder()
    const long = (ch: string) => messageEvent({ text: ch.repeat(4000) })
    let segment = newSegment()
    // Three-byte characters: full after a third as many characters as ASCII.
    while (!isSegmentFull(segment)) segment = Automerge.change(segment, doc => appendEvent(doc, long('漢')))
    const bytes = segment.events.reduce((sum, json) => sum + encoder.encode(String(json)).byteLength, 0)
    expect(segmentBytes(segment)).toBe(bytes)
    expect(bytes).toBeGreaterThanOrEqual(SEGMENT_BYTES)
    expect(bytes - SEGMENT_BYTES).toBeLessThan(12_100)
    expect(segment.events.length).toBeLessThan(100)
    expect(isSegmentFull(Automerge.change(newSegment(), doc => appendEvent(doc, long('x'))))).toBe(false)
  })
})

describe('inbox documents', () => {
  it('have a stable, valid document ID per user', () => {
    expect(isValidDocumentId(inboxDocumentId('alice'))).toBe(true)
    expect(inboxDocumentId('alice')).toBe(inboxDocumentId('alice'))
    expect(inboxDocumentId('alice')).not.toBe(inboxDocumentId('bob'))
  })

  it('start from byte-identical genesis everywhere, so independent copies merge without loss', () => {
    expect(inboxGenesis('alice')).toEqual(inboxGenesis('alice'))
    const server = Automerge.change(Automerge.load<InboxDoc>(inboxGenesis('alice')), doc => addToInbox(doc, 'conv-1', 1))
    const device = Automerge.change(Automerge.load<InboxDoc>(inboxGenesis('alice')), doc => addToInbox(doc, 'conv-2', 2))
    expect(readInbox(Automerge.merge(Automerge.clone(server), device)).sort()).toEqual(['conv-1', 'conv-2'])
  })
})

describe('bareDocumentId', () => {
  it('accepts the automerge: URL form', () => {
    expect(bareDocumentId('automerge:abc')).toBe('abc')
    expect(bareDocumentId('automerge:abc#heads')).toBe('abc')
    expect(bareDocumentId('abc')).toBe('abc')
  })
})

describe('names every object inherits (issue 13, item 3)', () => {
  it.each(INHERITED_NAMES)('%s is not a member of a head that does not list it', name => {
    const head = readHead(newHead())
    expect(memberRole(head, name)).toBeUndefined()
    expect(head.members[name]).toBeUndefined()
    expect(name in head.reads).toBe(false)
  })

  it('are not valid user IDs; ordinary names, e-mail addresses and opaque IDs are', () => {
    for (const name of INHERITED_NAMES) expect(isValidUserId(name)).toBe(false)
    for (const name of ['', 'x'.repeat(129), 42, null]) expect(isValidUserId(name)).toBe(false)
    for (const name of ['alice', 'alice@example.com', 'auth0|5f7c8ec7c33c6c004bbafe82', 'Constructor', 'proto', 'x'.repeat(128)]) expect(isValidUserId(name)).toBe(true)
  })

  it('a key __proto__ does not survive in an Automerge map: it becomes the prototype (why the name is refused)', () => {
    const head = Automerge.change(newHead(), doc => addMember(doc, '__proto__', 'member', 'alice', 6))
    expect(Object.keys(head.members)).not.toContain('__proto__')
    expect(Object.getPrototypeOf(head.members)).not.toBe(Object.prototype)
  })
})
