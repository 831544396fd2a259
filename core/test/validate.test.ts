import { describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS, parseEvent, validateEvent, type ParleyEvent } from '../src/index.ts'

const base = { id: 'e1', author: 'alice', device: 'd1', at: 1000 }
const valid: ParleyEvent[] = [
  { ...base, type: 'message', text: 'hi' },
  { ...base, type: 'message', text: 'urgent', priority: 'high' },
  { ...base, type: 'edit', target: 'm1', text: 'new' },
  { ...base, type: 'delete', target: 'm1' },
  { ...base, type: 'reaction', target: 'm1', emoji: '👍' },
  { ...base, type: 'reaction', target: 'm1', emoji: '👍', remove: true },
  { ...base, type: 'member-added', member: 'bob', role: 'admin' },
  { ...base, type: 'member-removed', member: 'bob' },
  { ...base, type: 'title-changed', title: 'plans' },
  { ...base, type: 'read', target: 'm1' },
]

const codeOf = (input: unknown, limits = DEFAULT_LIMITS) => {
  try {
    validateEvent(input, limits)
    return 'valid'
  } catch (error) {
    return (error as { code: string }).code
  }
}

describe('validateEvent', () => {
  it.each(valid.map(event => [event.type, event]))('accepts a valid %s event', (_type, event) => {
    expect(validateEvent(event)).toEqual(event)
  })

  it.each([
    ['not an object', 'hello'],
    ['an array', [base]],
    ['an unknown type', { ...base, type: 'poke' }],
    ['an unknown field', { ...base, type: 'message', text: 'x', colour: 'red' }],
    ['a missing field', { ...base, type: 'edit', text: 'x' }],
    ['an empty id', { ...base, id: '', type: 'message', text: 'x' }],
    ['a too long id', { ...base, id: 'x'.repeat(129), type: 'message', text: 'x' }],
    ['a fractional at', { ...base, at: 1.5, type: 'message', text: 'x' }],
    ['a negative at', { ...base, at: -1, type: 'message', text: 'x' }],
    ['a numeric text', { ...base, type: 'message', text: 5 }],
    ['a bad role', { ...base, type: 'member-added', member: 'bob', role: 'king' }],
    ['a bad priority', { ...base, type: 'message', text: 'x', priority: 'urgent' }],
    ['a non-boolean remove', { ...base, type: 'reaction', target: 'm', emoji: '👍', remove: 'yes' }],
    ['an empty emoji', { ...base, type: 'reaction', target: 'm', emoji: '' }],
    ['a huge emoji', { ...base, type: 'reaction', target: 'm', emoji: '👍'.repeat(20) }],
    ['a too long title', { ...base, type: 'title-changed', title: 't'.repeat(257) }],
  ])('rejects %s with PARLEY_ERR_INVALID_EVENT', (_name, input) => {
    expect(codeOf(input)).toBe('PARLEY_ERR_INVALID_EVENT')
  })

  it('limits text to 16 KiB of UTF-8 by default, counting bytes not characters', () => {
    expect(codeOf({ ...base, type: 'message', text: 'x'.repeat(16 * 1024) })).toBe('valid')
    expect(codeOf({ ...base, type: 'message', text: 'x'.repeat(16 * 1024 + 1) })).toBe('PARLEY_ERR_TEXT_TOO_LARGE')
    expect(codeOf({ ...base, type: 'edit', target: 'm', text: 'é'.repeat(8 * 1024 + 1) })).toBe('PARLEY_ERR_TEXT_TOO_LARGE')
  })

  it('honours a configured limit', () => {
    const limits = { ...DEFAULT_LIMITS, maxTextBytes: 10 }
    expect(codeOf({ ...base, type: 'message', text: '0123456789' }, limits)).toBe('valid')
    expect(codeOf({ ...base, type: 'message', text: '0123456789!' }, limits)).toBe('PARLEY_ERR_TEXT_TOO_LARGE')
  })

  it('parses stored JSON and rejects what is not JSON', () => {
    expect(parseEvent(JSON.stringify(valid[0]))).toEqual(valid[0])
    expect(() => parseEvent('{"id":')).toThrow(expect.objectContaining({ code: 'PARLEY_ERR_INVALID_EVENT' }))
  })
})
