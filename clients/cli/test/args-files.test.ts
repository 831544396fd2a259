import { describe, expect, it } from 'vitest'
import { parseInvocation, UsageError } from '../src/args.ts'

const env = { PARLEY_TOKEN: 't' }

describe('file arguments', () => {
  it('takes send ID --file PATH without a text, and download ID MESSAGE [--out PATH]', () => {
    expect(parseInvocation(['send', 'c1', '--file', 'a.png'], env)).toMatchObject({ command: 'send', args: ['c1'], file: 'a.png' })
    expect(parseInvocation(['download', 'c1', 'm1', '--out', 'x'], env)).toMatchObject({ command: 'download', args: ['c1', 'm1'], out: 'x' })
    expect(parseInvocation(['download', 'c1', 'm1'], env)).toMatchObject({ out: undefined })
  })

  it('refuses a text with --file, --file elsewhere, and a download without its message', () => {
    expect(() => parseInvocation(['send', 'c1', 'hello', '--file', 'a.png'], env)).toThrow(UsageError)
    expect(() => parseInvocation(['history', 'c1', '--file', 'a.png'], env)).toThrow(/does not take --file/)
    expect(() => parseInvocation(['download', 'c1'], env)).toThrow(/expects <conversationId> <messageId>/)
  })
})
