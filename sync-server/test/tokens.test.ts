import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTokenVerifier, hs256Verifier, mintToken, type TokenOptions } from '../src/auth/tokens.ts'

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>
type SigningKey = KeyPair['privateKey'] | Uint8Array

const SECRET = 'a-test-secret-that-is-long-enough'
const unauthenticated = { code: 'PARLEY_ERR_UNAUTHENTICATED' }
const invalidOption = { code: 'PARLEY_ERR_INVALID_OPTION' }

function sign(key: SigningKey, alg: string, claims: JWTPayload = { sub: 'alice' }, kid?: string): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(kid === undefined ? { alg } : { alg, kid }).setIssuedAt().setExpirationTime('5m').sign(key)
}

const hsKey = new TextEncoder().encode(SECRET)

describe('HS256', () => {
  it('accepts a good token and reports its expiry', async () => {
    const verify = await createTokenVerifier({ secret: SECRET })
    const identity = await verify(await sign(hsKey, 'HS256'))
    expect(identity.user).toBe('alice')
    expect(identity.expiresAt).toBeGreaterThan(Date.now())
  })

  it('refuses a token signed with another secret', async () => {
    const verify = await createTokenVerifier({ secret: SECRET })
    await expect(verify(await sign(new TextEncoder().encode('another-secret-also-long-enough'), 'HS256'))).rejects.toMatchObject(unauthenticated)
  })

  it('keeps hs256Verifier and mintToken working together', async () => {
    await expect(hs256Verifier(SECRET)(await mintToken(SECRET, 'bob', { ttl: '1m' }))).resolves.toMatchObject({ user: 'bob' })
    await expect(hs256Verifier('wrong')(await mintToken(SECRET, 'bob'))).rejects.toMatchObject(unauthenticated)
  })
})

describe.each(['RS256', 'EdDSA'] as const)('public key (%s)', alg => {
  let pair: KeyPair
  let other: KeyPair
  let options: TokenOptions

  beforeAll(async () => {
    pair = await generateKeyPair(alg, { extractable: true })
    other = await generateKeyPair(alg, { extractable: true })
    options = { publicKey: await exportSPKI(pair.publicKey) }
  })

  it('accepts a token signed by its private key', async () => {
    const verify = await createTokenVerifier(options)
    await expect(verify(await sign(pair.privateKey, alg))).resolves.toMatchObject({ user: 'alice' })
  })

  it('refuses a token signed by another key', async () => {
    const verify = await createTokenVerifier(options)
    await expect(verify(await sign(other.privateKey, alg))).rejects.toMatchObject({ ...unauthenticated, message: 'invalid token: signature verification failed' })
  })

  it('refuses an HS256 token', async () => {
    const verify = await createTokenVerifier(options)
    await expect(verify(await sign(hsKey, 'HS256'))).rejects.toMatchObject({ ...unauthenticated, message: expect.stringContaining('"alg"') })
  })
})

describe('JWKS', () => {
  let server: Server
  let jwksUrl: string
  let requests = 0
  let pair: KeyPair

  beforeAll(async () => {
    pair = await generateKeyPair('RS256', { extractable: true })
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'RS256' }
    server = createServer((_request, response) => {
      requests++
      response.setHeader('content-type', 'application/json')
      response.end(JSON.stringify({ keys: [jwk] }))
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`
  })

  afterAll(() => new Promise<void>(resolve => server.close(() => resolve())))

  it('accepts a token signed with a published key', async () => {
    const verify = await createTokenVerifier({ jwksUrl })
    await expect(verify(await sign(pair.privateKey, 'RS256', { sub: 'alice' }, 'key-1'))).resolves.toMatchObject({ user: 'alice' })
  })

  it('refuses a token whose kid is not published', async () => {
    const verify = await createTokenVerifier({ jwksUrl })
    const stranger = await generateKeyPair('RS256')
    await expect(verify(await sign(stranger.privateKey, 'RS256', { sub: 'alice' }, 'key-2'))).rejects.toMatchObject(unauthenticated)
  })

  it('fetches the key set once for several verifications', async () => {
    const verify = await createTokenVerifier({ jwksUrl })
    const before = requests
    for (const user of ['alice', 'bob', 'carol']) {
      await expect(verify(await sign(pair.privateKey, 'RS256', { sub: user }, 'key-1'))).resolves.toMatchObject({ user })
    }
    expect(requests - before).toBe(1)
  })
})

describe('claims', () => {
  it('refuses an expired token', async () => {
    const verify = await createTokenVerifier({ secret: SECRET })
    const now = Math.floor(Date.now() / 1000)
    const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(now - 120).setExpirationTime(now - 60).sign(hsKey)
    await expect(verify(token)).rejects.toMatchObject(unauthenticated)
  })

  it('refuses a token without sub', async () => {
    const verify = await createTokenVerifier({ secret: SECRET })
    await expect(verify(await sign(hsKey, 'HS256', {}))).rejects.toMatchObject({ ...unauthenticated, message: expect.stringContaining('sub') })
  })

  it('refuses a sub that is no valid user ID: a name every object inherits, one of the server’s own, or an overlong one', async () => {
    const verify = await createTokenVerifier({ secret: SECRET })
    for (const sub of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'parley:moderation', 'x'.repeat(10_000)]) {
      await expect(verify(await sign(hsKey, 'HS256', { sub })), sub.slice(0, 20)).rejects.toMatchObject({ ...unauthenticated, message: expect.stringContaining('not a valid user ID') })
    }
    await expect(verify(await sign(hsKey, 'HS256', { sub: 'proto' }))).resolves.toMatchObject({ user: 'proto' })
  })

  it('checks audience and issuer when configured', async () => {
    const verify = await createTokenVerifier({ secret: SECRET, audience: 'parley', issuer: 'https://auth.example' })
    const claims = { sub: 'alice', aud: 'parley', iss: 'https://auth.example' }
    await expect(verify(await sign(hsKey, 'HS256', claims))).resolves.toMatchObject({ user: 'alice' })
    await expect(verify(await sign(hsKey, 'HS256', { ...claims, aud: 'elsewhere' }))).rejects.toMatchObject(unauthenticated)
    await expect(verify(await sign(hsKey, 'HS256', { ...claims, iss: 'https://evil.example' }))).rejects.toMatchObject(unauthenticated)
    await expect(verify(await sign(hsKey, 'HS256', { sub: 'alice' }))).rejects.toMatchObject(unauthenticated)
  })
})

describe('maximum token lifetime', () => {
  const now = Math.floor(Date.now() / 1000)
  const token = (build: (jwt: SignJWT) => SignJWT) => build(new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' })).sign(hsKey)

  it('without it, a token with no exp is accepted (until the secret changes)', async () => {
    const verify = await createTokenVerifier({ secret: SECRET })
    await expect(verify(await token(jwt => jwt.setIssuedAt(now - 365 * 86_400)))).resolves.toEqual({ user: 'alice' })
  })

  it('refuses a token with no exp, saying so', async () => {
    const verify = await createTokenVerifier({ secret: SECRET, maxLifetimeSeconds: 3600 })
    await expect(verify(await token(jwt => jwt.setIssuedAt(now)))).rejects.toMatchObject({ ...unauthenticated, message: expect.stringContaining('no exp claim') })
  })

  it('refuses a token whose exp - iat exceeds it, saying so', async () => {
    const verify = await createTokenVerifier({ secret: SECRET, maxLifetimeSeconds: 3600 })
    // Issued long ago, still valid for a minute: its declared lifetime counts, not what is left.
    const old = await token(jwt => jwt.setIssuedAt(now - 7200).setExpirationTime(now + 60))
    await expect(verify(old)).rejects.toMatchObject({ ...unauthenticated, message: expect.stringContaining('lives 7260 s (exp - iat)') })
  })

  it('refuses a token without iat (or with a future one) that expires further ahead than it', async () => {
    const verify = await createTokenVerifier({ secret: SECRET, maxLifetimeSeconds: 3600 })
    await expect(verify(await token(jwt => jwt.setExpirationTime(now + 7200)))).rejects.toMatchObject({ ...unauthenticated, message: expect.stringContaining('expires in') })
    const future = await token(jwt => jwt.setIssuedAt(now + 86_400).setExpirationTime(now + 86_400 + 60))
    await expect(verify(future)).rejects.toMatchObject({ ...unauthenticated, message: expect.stringContaining('expires in') })
  })

  it('accepts tokens within it, with or without iat', async () => {
    const verify = await createTokenVerifier({ secret: SECRET, maxLifetimeSeconds: 3600 })
    await expect(verify(await token(jwt => jwt.setIssuedAt(now).setExpirationTime(now + 3600)))).resolves.toMatchObject({ user: 'alice' })
    await expect(verify(await token(jwt => jwt.setExpirationTime(now + 1800)))).resolves.toMatchObject({ user: 'alice' })
    await expect(verify(await mintToken(SECRET, 'alice', { ttl: '1h' }))).resolves.toMatchObject({ user: 'alice' })
  })

  it.each([0, -1, 1.5, Number.NaN])('rejects %s as a maximum', async maxLifetimeSeconds => {
    await expect(createTokenVerifier({ secret: SECRET, maxLifetimeSeconds })).rejects.toMatchObject(invalidOption)
  })
})

describe('createTokenVerifier options', () => {
  it.each<[string, TokenOptions]>([
    ['no key source', {}],
    ['two key sources', { secret: SECRET, jwksUrl: 'http://127.0.0.1:1/jwks.json' }],
    ['an empty secret', { secret: '' }],
    ['a malformed PEM', { publicKey: '-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n' }],
    ['an invalid JWKS URL', { jwksUrl: 'not a url' }],
  ])('rejects %s', async (_name, options) => {
    await expect(createTokenVerifier(options)).rejects.toMatchObject(invalidOption)
  })

  it('rejects a public key that is neither RSA nor Ed25519', async () => {
    const { publicKey } = await generateKeyPair('ES256', { extractable: true })
    await expect(createTokenVerifier({ publicKey: await exportSPKI(publicKey) })).rejects.toMatchObject(invalidOption)
  })
})
