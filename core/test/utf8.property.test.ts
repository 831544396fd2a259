import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { utf8Length } from '../src/index.ts'

describe('utf8Length', () => {
  const encoder = new TextEncoder()
  it('counts what TextEncoder writes, lone surrogates included', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), text => utf8Length(text) === encoder.encode(text).byteLength))
    fc.assert(fc.property(fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map(code => String.fromCharCode(code)) }), text => utf8Length(text) === encoder.encode(text).byteLength))
  })

  it.each([['', 0], ['a', 1], ['é', 2], ['漢', 3], ['😀', 4], ['\ud800', 3]])('counts %j as %i bytes', (text, bytes) => {
    expect(utf8Length(text)).toBe(bytes)
  })
})
