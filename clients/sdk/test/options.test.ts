import { describe, expect, it } from 'vitest'
import { resolveOptions } from '../src/options.ts'
import { syncUrl } from '../src/network/url.ts'
import { tokenSubject } from '../src/token.ts'
import { testToken } from './helpers.ts'

describe('syncUrl', () => {
  it.each([
    ['ws://127.0.0.1:8787', 'ws://127.0.0.1:8787/sync'],
    ['wss://chat.example/', 'wss://chat.example/sync'],
    ['ws://127.0.0.1:8787/sync', 'ws://127.0.0.1:8787/sync'],
    ['http://127.0.0.1:8787', 'ws://127.0.0.1:8787/sync'],
    ['https://chat.example/parley', 'wss://chat.example/parley/sync'],
  ])('%s → %s', (input, expected) => expect(syncUrl(input)).toBe(expected))

  it('rejects what is not a ws or http URL', () => {
    expect(() => syncUrl('127.0.0.1:8787')).toThrow(expect.objectContaining({ code: 'PARLEY_ERR_INVALID_OPTION' }))
    expect(() => syncUrl('ftp://host')).toThrow(expect.objectContaining({ code: 'PARLEY_ERR_INVALID_OPTION' }))
  })
})

describe('resolveOptions', () => {
  it('fills defaults and freezes', () => {
    const options = resolveOptions({ token: 't' })
    expect(options).toMatchObject({ storage: { kind: 'memory' }, pageSize: 50, segmentSize: 1000, reconnect: { minMs: 250, maxMs: 30_000 } })
    expect(options.limits.maxTextBytes).toBe(16 * 1024)
    expect(Object.isFrozen(options)).toBe(true)
  })

  it('rejects unknown keys and bad values', () => {
    const bad = [{ token: 't', colour: 'red' }, { token: 42 }, { token: 't', pageSize: 0 }, { token: 't', storage: { kind: 'level' } }, { token: 't', reconnect: { minMs: 10, maxMs: 5 } }]
    for (const options of bad) expect(() => resolveOptions(options as never)).toThrow(expect.objectContaining({ code: 'PARLEY_ERR_INVALID_OPTION' }))
  })
})

describe('tokenSubject', () => {
  it('reads sub without verifying', () => expect(tokenSubject(testToken('alice'))).toBe('alice'))
  it('rejects tokens without a subject', () => {
    expect(() => tokenSubject('nonsense')).toThrow(expect.objectContaining({ code: 'PARLEY_ERR_INVALID_OPTION' }))
    expect(() => tokenSubject(`x.${Buffer.from('{}').toString('base64url')}.y`)).toThrow(expect.objectContaining({ code: 'PARLEY_ERR_INVALID_OPTION' }))
  })
})
