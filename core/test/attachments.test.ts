import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CoreErrorCodes, MAX_FILE_NAME_BYTES, MAX_PREVIEW_BYTES, MODERATION_AUTHOR, project, Timeline, unreadCount, validateEvent, type AttachmentEvent, type ParleyEvent } from '../src/index.ts'
import { arrival } from './arbitraries.ts'

const HASH = 'a'.repeat(64)
const PNG_PREVIEW = 'data:image/png;base64,iVBORw0KGgo='
const photo: AttachmentEvent = { id: 'f1', type: 'attachment', author: 'alice', device: 'd1', at: 10, hash: HASH, name: 'cat.png', size: 1234, mime: 'image/png', width: 640, height: 480, preview: PNG_PREVIEW }
const pdf: AttachmentEvent = { id: 'f2', type: 'attachment', author: 'bob', device: 'd2', at: 20, hash: 'b'.repeat(64), name: 'report.pdf', size: 99, mime: 'application/pdf' }

function refusal(input: Record<string, unknown>): string {
  try {
    validateEvent(input)
  } catch (error) {
    expect((error as { code: string }).code).toBe(CoreErrorCodes.INVALID_EVENT)
    return (error as Error).message
  }
  throw new Error('accepted')
}

describe('attachment events', () => {
  it('accepts an image with dimensions and a preview, and a file without', () => {
    expect(validateEvent(photo)).toEqual(photo)
    expect(validateEvent(pdf)).toEqual(pdf)
  })

  it('refuses a hash that is not lowercase SHA-256 hex', () => {
    expect(refusal({ ...pdf, hash: 'A'.repeat(64) })).toMatch(/hash/)
    expect(refusal({ ...pdf, hash: 'a'.repeat(63) })).toMatch(/hash/)
    expect(refusal({ ...pdf, hash: 42 })).toMatch(/hash/)
  })

  it('bounds the name and refuses path separators and control characters', () => {
    expect(refusal({ ...pdf, name: '' })).toMatch(/name/)
    expect(refusal({ ...pdf, name: 'é'.repeat(MAX_FILE_NAME_BYTES) })).toMatch(/longer than/)
    expect(refusal({ ...pdf, name: '../etc/passwd' })).toMatch(/separator/)
    expect(refusal({ ...pdf, name: 'a\\b' })).toMatch(/separator/)
    expect(refusal({ ...pdf, name: 'a\nb' })).toMatch(/control/)
  })

  it('refuses a negative, fractional or unsafe size, and a malformed MIME type', () => {
    for (const size of [-1, 1.5, 2 ** 60, '12']) expect(refusal({ ...pdf, size })).toMatch(/size/)
    for (const mime of ['pdf', 'Application/PDF', 'text/plain; charset=utf-8', `a/${'b'.repeat(300)}`]) expect(refusal({ ...pdf, mime })).toMatch(/mime/)
  })

  it('allows dimensions and previews on images only, within bounds', () => {
    expect(refusal({ ...pdf, width: 10, height: 10 })).toMatch(/images only/)
    expect(refusal({ ...pdf, preview: PNG_PREVIEW })).toMatch(/images only/)
    expect(refusal({ ...photo, width: 0 })).toMatch(/width/)
    expect(refusal({ ...photo, height: 70_000 })).toMatch(/height/)
    const { height: _height, ...widthOnly } = photo
    expect(refusal(widthOnly)).toMatch(/go together/)
    expect(refusal({ ...photo, preview: 'data:image/svg+xml;base64,PHN2Zz4=' })).toMatch(/preview/)
    expect(refusal({ ...photo, preview: 'javascript:alert(1)' })).toMatch(/preview/)
    expect(refusal({ ...photo, preview: `data:image/png;base64,${'A'.repeat(MAX_PREVIEW_BYTES)}` })).toMatch(/at most/)
  })

  it('refuses unknown fields and missing ones', () => {
    expect(refusal({ ...pdf, url: 'http://x' })).toMatch(/unknown field url/)
    const { mime: _mime, ...noMime } = pdf
    expect(refusal(noMime)).toMatch(/lacks mime/)
  })
})

describe('attachments in the timeline', () => {
  it('projects an attachment as an item with its file, ordered with messages, and counted unread', () => {
    const message: ParleyEvent = { id: 'm1', type: 'message', author: 'bob', device: 'd2', at: 15, text: 'look' }
    const items = project([pdf, message, photo])
    expect(items.map(item => item.id)).toEqual(['f1', 'm1', 'f2'])
    expect(items[0]).toEqual({ id: 'f1', author: 'alice', text: '', at: 10, reactions: {}, attachment: { hash: HASH, name: 'cat.png', size: 1234, mime: 'image/png', width: 640, height: 480, preview: PNG_PREVIEW } })
    expect(items[2]!.attachment).toEqual({ hash: pdf.hash, name: 'report.pdf', size: 99, mime: 'application/pdf' })
    expect(unreadCount(items, 'alice')).toBe(2)
  })

  it('drops the file of an attachment its author deleted or the server rejected; reactions apply', () => {
    const events: ParleyEvent[] = [
      photo,
      pdf,
      { id: 'd1', type: 'delete', author: 'alice', device: 'd1', at: 30, target: 'f1' },
      { id: 'r1', type: 'reaction', author: 'alice', device: 'd1', at: 31, target: 'f2', emoji: '👍' },
      { id: 'x1', type: 'moderated', author: MODERATION_AUTHOR, device: 'server', at: 32, target: 'f2', decision: 'rejected', reason: 'not allowed' },
    ]
    const [deleted, rejected] = project(events)
    expect(deleted).toMatchObject({ deleted: true, text: '' })
    expect(deleted!.attachment).toBeUndefined()
    expect(rejected!.attachment).toBeUndefined()
    expect(rejected!.reactions).toEqual({ '👍': ['alice'] })
  })

  it('the incremental timeline equals project for attachments and messages in any arrival order', () => {
    const events: ParleyEvent[] = [
      photo,
      pdf,
      { id: 'm1', type: 'message', author: 'carol', device: 'd3', at: 15, text: 'hi' },
      { id: 'd1', type: 'delete', author: 'bob', device: 'd2', at: 30, target: 'f2' },
      { id: 'r1', type: 'reaction', author: 'carol', device: 'd3', at: 12, target: 'f1', emoji: '🎉' },
    ]
    fc.assert(
      fc.property(arrival(events), arrived => {
        const timeline = new Timeline()
        for (const event of arrived) timeline.add(event)
        expect(timeline.items()).toEqual(project(events))
      }),
    )
  })
})
