import { describe, expect, it } from 'vitest'
import { prettyLine, redactUrl } from '../src/logging.ts'

describe('log lines', () => {
  it('replace every credential in a query, however spelled, and keep the rest', () => {
    expect(redactUrl('/v1/conversations/abc/stream?token=eyJ.a.b&after=3')).toBe('/v1/conversations/abc/stream?token=[redacted]&after=3')
    expect(redactUrl('/x?a=1&Token=s1&%74oken=s2&access_token=s3&jwt=s4')).toBe('/x?a=1&Token=[redacted]&%74oken=[redacted]&access_token=[redacted]&jwt=[redacted]')
    expect(redactUrl('/x?token&tokens=kept')).toBe('/x?token=[redacted]&tokens=kept')
    expect(redactUrl('/healthz')).toBe('/healthz')
    expect(redactUrl('/x?%E0%A4%A=1&token=s')).toBe('/x?%E0%A4%A=1&token=[redacted]')
  })

  it('read as one short line: time, level, request, message, fields; an error’s stack below', () => {
    const at = new Date(2026, 11, 5, 12, 0, 1, 234).getTime()
    expect(prettyLine(JSON.stringify({ level: 20, time: at, pid: 1, hostname: 'h', reqId: 'req-1', req: { method: 'GET', url: '/healthz?token=[redacted]' }, statusCode: 200, ms: 3, msg: 'request' }))).toBe(
      '12:00:01.234 DEBUG GET /healthz?token=[redacted] request statusCode=200 ms=3',
    )
    const line = prettyLine(JSON.stringify({ level: 50, time: at, msg: 'shutdown failed', err: { message: 'boom', stack: 'Error: boom\n    at x' } }))
    expect(line.split(/\r?\n/)).toEqual(['12:00:01.234 ERROR shutdown failed', '    Error: boom', '        at x'])
    expect(prettyLine('not json')).toBe('not json')
  })
})
