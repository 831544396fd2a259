import { describe, expect, it } from 'vitest'
import { readClaims } from '../../src/session/jwt.ts'
import { sessionFromToken } from '../../src/session/session.ts'

const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url')
const jwt = (claims: object): string => `${encode({ alg: 'HS256' })}.${encode(claims)}.signature`

describe('signing in with a token', () => {
  it('reads the user and expiry from the token', () => {
    expect(readClaims(jwt({ sub: 'alice', exp: 2_000_000_000 }))).toEqual({ sub: 'alice', expiresAt: 2_000_000_000_000 })
    expect(sessionFromToken(` ${jwt({ sub: 'bob' })}\n`)).toEqual({ user: 'bob', token: jwt({ sub: 'bob' }), dev: false })
  })

  it('refuses what is not a usable token, saying why', () => {
    expect(() => sessionFromToken('not a token')).toThrow(/not a Parley token/)
    expect(() => sessionFromToken(jwt({ name: 'no sub' }))).toThrow(/not a Parley token/)
    expect(() => sessionFromToken(jwt({ sub: 'alice', exp: 1 }))).toThrow(/expired/)
  })
})
