import { describe, expect, it } from 'vitest'
import { parseInvocation, UsageError } from '../src/args.ts'

describe('parseInvocation', () => {
  it('reads global flags anywhere and command flags', () => {
    const parsed = parseInvocation(['create', '--title', 'T', '--member', 'bob', '--member', 'carol', '--server', 'ws://h:1', '--token', 'jwt', '--data', '/d'], {})
    expect(parsed).toMatchObject({ help: false, command: 'create', title: 'T', members: ['bob', 'carol'], servers: ['ws://h:1'], token: 'jwt', data: '/d' })
  })

  it('takes a message ID or text that starts with a dash as an argument, not as an option (base64url IDs may)', () => {
    expect(parseInvocation(['download', 'conv', '-Ab3_x', '--out', '-file'], {})).toMatchObject({ command: 'download', args: ['conv', '-Ab3_x'], out: '-file' })
    expect(parseInvocation(['send', 'conv', '-5 degrees'], {})).toMatchObject({ command: 'send', args: ['conv', '-5 degrees'] })
    expect(parseInvocation(['send', '-h'], {})).toMatchObject({ help: true, command: 'send' })
    expect(() => parseInvocation(['send', 'conv', 'hi', '--tokn', 'x'], {})).toThrow(UsageError)
  })

  it('falls back to PARLEY_SERVER, PARLEY_TOKEN and PARLEY_DATA; flags win', () => {
    const env = { PARLEY_SERVER: 'ws://env:1', PARLEY_TOKEN: 'env-token', PARLEY_DATA: '/env' }
    expect(parseInvocation(['sync'], env)).toMatchObject({ servers: ['ws://env:1'], token: 'env-token', data: '/env' })
    expect(parseInvocation(['sync', '--token', 'flag-token'], env)).toMatchObject({ token: 'flag-token' })
  })

  it('takes several servers, as the library does: repeated --server flags or a comma-separated list', () => {
    expect(parseInvocation(['sync', '--server', 'ws://a:1', '--server', 'ws://b:2'], {})).toMatchObject({ servers: ['ws://a:1', 'ws://b:2'] })
    expect(parseInvocation(['sync', '--server', 'ws://a:1, ws://b:2'], {})).toMatchObject({ servers: ['ws://a:1', 'ws://b:2'] })
    expect(parseInvocation(['sync'], { PARLEY_SERVER: 'ws://a:1,ws://b:2' })).toMatchObject({ servers: ['ws://a:1', 'ws://b:2'] })
    expect(parseInvocation(['sync'], {})).toMatchObject({ servers: [] })
  })

  it('defaults the data directory to ~/.parley', () => {
    expect(parseInvocation(['conversations'], {})).toMatchObject({ data: expect.stringMatching(/\.parley$/) })
  })

  it.each([
    [['bogus']],
    [['send', 'only-an-id']],
    [['history', 'id', '--title', 'x']],
    [['history', 'id', '--limit', '-3']],
    [['sync', '--timeout', 'soon']],
    [['create', '--colour', 'red']],
  ])('rejects %j as a usage error', argv => {
    expect(() => parseInvocation(argv, {})).toThrow(UsageError)
  })

  it('asks for help without a command', () => {
    expect(parseInvocation([], {})).toEqual({ help: true })
    expect(parseInvocation(['send', '--help'], {})).toEqual({ help: true, command: 'send' })
  })
})
