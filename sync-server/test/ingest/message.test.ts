/** The ingest message format (src/ingest/message.ts) and the options that turn ingest on (config.ts). */
import { INHERITED_NAMES } from '@parley/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { resolveServerOptions } from '../../src/config.ts'
import { isRefusal, parseIngestMessage, type IngestMessage, type Refusal } from '../../src/ingest/message.ts'
import { maxIngestBytes, redactUrl } from '../../src/ingest/open.ts'

const options = { maxBytes: maxIngestBytes({ maxTextBytes: 16 * 1024 }), systemUser: 'system' }
const parse = (value: unknown, extra: Partial<typeof options & { brokerId: string }> = {}): IngestMessage | Refusal =>
  parseIngestMessage(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)), { ...options, ...extra })

describe('the ingest message', () => {
  it('reads an author or the system sender, the text, a priority and a key (or the broker message ID)', () => {
    expect(parse({ conversation: 'automerge:abc', author: 'bob', text: 'hi', priority: 'high', idempotencyKey: 'k' })).toEqual({ conversation: 'abc', sender: 'bob', text: 'hi', priority: 'high', idempotencyKey: 'k' })
    expect(parse({ conversation: 'abc', system: true, text: 'hi' }, { brokerId: 'm-1' })).toEqual({ conversation: 'abc', sender: 'system', text: 'hi', idempotencyKey: 'm-1' })
  })

  it('refuses, with a reason, what can never be applied', () => {
    const reason = (value: unknown, extra = {}) => (parse(value, extra) as Refusal).reason
    const ok = { conversation: 'abc', author: 'bob', text: 'hi', idempotencyKey: 'k' }
    expect(reason('{')).toBe('invalid')
    expect(reason('[1]')).toBe('invalid')
    expect(reason('null')).toBe('invalid')
    expect(reason({ ...ok, idempotencyKey: undefined })).toBe('invalid')
    expect(reason({ ...ok, idempotencyKey: 'k'.repeat(201) })).toBe('invalid')
    expect(reason({ ...ok, system: true })).toBe('invalid')
    expect(reason({ ...ok, author: undefined })).toBe('invalid')
    expect(reason({ ...ok, system: false, author: undefined })).toBe('invalid')
    expect(reason({ ...ok, text: '' })).toBe('invalid')
    expect(reason({ ...ok, priority: 'urgent' })).toBe('invalid')
    expect(reason({ ...ok, conversation: '' })).toBe('invalid')
    expect(reason({ ...ok, extra: 1 })).toBe('invalid')
    expect(reason(' '.repeat(options.maxBytes + 1))).toBe('too-large')
    expect(reason(ok, { maxBytes: 10 })).toBe('too-large')
  })

  it('refuses inherited names as the author, and as a field name', () => {
    for (const name of INHERITED_NAMES) {
      expect((parse({ conversation: 'abc', author: name, text: 'hi', idempotencyKey: 'k' }) as Refusal).reason).toBe('invalid')
      expect((parse(`{"conversation":"abc","author":"bob","text":"hi","idempotencyKey":"k",${JSON.stringify(name)}:1}`) as Refusal).reason).toBe('invalid')
    }
  })

  it('answers any bytes with a message or a refusal, never a throw', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.json().map(text => new TextEncoder().encode(text))), bytes => {
        const result = parseIngestMessage(bytes, options)
        expect(isRefusal(result) ? typeof result.detail : typeof result.text).toBe('string')
      }),
    )
  })
})

describe('the ingest options', () => {
  it('takes amqp, amqps, nats and tls URLs, a queue/stream name, a bounded prefetch and a valid system user', () => {
    for (const url of ['amqp://guest:guest@127.0.0.1:5672/v', 'amqps://h', 'nats://127.0.0.1:4222', 'tls://h:4222']) expect(resolveServerOptions({ ingest: url }).ingest).toBe(url)
    expect(resolveServerOptions({}).ingestName).toBe('parley-ingest')
    expect(() => resolveServerOptions({ ingest: 'kafka://h' })).toThrow(/ingest must be a URL/)
    expect(() => resolveServerOptions({ ingestName: 'a.b' })).toThrow(/ingestName/)
    expect(() => resolveServerOptions({ ingestPrefetch: 0 })).toThrow(/ingestPrefetch/)
    expect(() => resolveServerOptions({ ingestPrefetch: 1001 })).toThrow(/ingestPrefetch/)
    expect(() => resolveServerOptions({ ingestSystemUser: '__proto__' })).toThrow(/ingestSystemUser/)
  })

  it('never logs the broker password', () => {
    expect(redactUrl('amqp://guest:s3cret@h:5672/v')).toBe('amqp://guest:***@h:5672/v')
    expect(redactUrl('nats://h:4222')).toBe('nats://h:4222')
  })
})
