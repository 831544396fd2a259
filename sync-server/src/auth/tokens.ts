/**
 * Token verification: `sub` is the user ID, `exp` is honoured. Tokens are checked with an HS256
 * secret, an RSA / Ed25519 public key, or a remote JWKS; `mintToken` signs HS256 only.
 * A token without `exp` is accepted until the key changes, unless the server caps token
 * lifetimes (`maxLifetimeSeconds`, docs/security.md "Tokens").
 */
import { createPublicKey } from 'node:crypto'
import { createRemoteJWKSet, importSPKI, jwtVerify, SignJWT, type JWTVerifyGetKey } from 'jose'
import { DEFAULT_LIMITS, isValidUserId, RESERVED_USER_PREFIX } from '@parley/core'
import { ParleyError, ServerErrorCodes } from '../errors.ts'

export interface Identity {
  user: string
  /** Expiry in ms since the epoch, when the token has one. */
  expiresAt?: number
  /** The token carries `"admin": true`: it may use the admin routes. */
  admin?: true
}

export type TokenVerifier = (token: string) => Promise<Identity>

export interface TokenOptions {
  /** HS256 shared secret. */
  secret?: string
  /** PEM text of an SPKI public key, RSA (RS256) or Ed25519 (EdDSA). */
  publicKey?: string
  /** URL of a JSON Web Key Set; keys are fetched on demand and cached. */
  jwksUrl?: string
  audience?: string
  issuer?: string
  /** Refuse tokens without `exp` and tokens meant to live longer than this (`exp - iat`, or `exp` from now). */
  maxLifetimeSeconds?: number
}

interface ClaimChecks {
  algorithms: string[]
  audience?: string
  issuer?: string
}

/** Why a token outlives `maxSeconds`, or undefined when it does not. */
function lifetimeProblem(payload: { exp?: number; iat?: number }, maxSeconds: number): string | undefined {
  const { exp, iat } = payload
  if (exp === undefined) return `the token has no exp claim, and this server accepts tokens living at most ${maxSeconds} s`
  if (iat !== undefined && exp - iat > maxSeconds) return `the token lives ${exp - iat} s (exp - iat), more than this server's maximum of ${maxSeconds} s`
  // Without iat, or with one in the future, what is left of its life counts.
  const left = exp - Math.floor(Date.now() / 1000)
  if (left > maxSeconds) return `the token expires in ${left} s, more than this server's maximum token lifetime of ${maxSeconds} s`
  return undefined
}

const encoder = new TextEncoder()

/** The claim handling every token kind shares; only the key lookup and algorithms differ. */
function verifier(getKey: JWTVerifyGetKey, checks: ClaimChecks, maxLifetimeSeconds?: number): TokenVerifier {
  return async token => {
    try {
      const { payload } = await jwtVerify(token, getKey, checks)
      if (typeof payload.sub !== 'string' || payload.sub === '') throw new Error('the token has no sub claim')
      // A name every object inherits (`__proto__`, `constructor` …), one of the server's own (`parley:…`) or an overlong one names no user (core isValidUserId).
      if (!isValidUserId(payload.sub)) {
        throw new Error(`the token's sub ${JSON.stringify(payload.sub.slice(0, 60))} is not a valid user ID (at most ${DEFAULT_LIMITS.maxIdLength} characters, not a name every object inherits, not starting with ${RESERVED_USER_PREFIX})`)
      }
      const tooLong = maxLifetimeSeconds === undefined ? undefined : lifetimeProblem(payload, maxLifetimeSeconds)
      if (tooLong !== undefined) throw new Error(tooLong)
      const identity: Identity = { user: payload.sub }
      if (payload.exp !== undefined) identity.expiresAt = payload.exp * 1000
      if (payload.admin === true) identity.admin = true
      return identity
    } catch (cause) {
      throw new ParleyError(ServerErrorCodes.UNAUTHENTICATED, `invalid token: ${(cause as Error).message}`, { cause })
    }
  }
}

export function hs256Verifier(secret: string): TokenVerifier {
  const key = encoder.encode(secret)
  return verifier(() => key, { algorithms: ['HS256'] })
}

export async function createTokenVerifier(options: TokenOptions): Promise<TokenVerifier> {
  const { secret, publicKey, jwksUrl, audience, issuer, maxLifetimeSeconds } = options
  if (maxLifetimeSeconds !== undefined && !(Number.isInteger(maxLifetimeSeconds) && maxLifetimeSeconds >= 1)) {
    throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `maxLifetimeSeconds must be an integer ≥ 1, got ${maxLifetimeSeconds}`)
  }
  const given = Object.entries({ secret, publicKey, jwksUrl }).filter(([, value]) => value !== undefined)
  if (given.length !== 1) {
    const got = given.length === 0 ? 'none' : given.map(([name]) => name).join(' and ')
    throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `exactly one of secret, publicKey or jwksUrl must be given, got ${got}`)
  }
  const [name, value] = given[0] as [string, string]
  if (value === '') throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `${name} must not be empty`)

  if (name === 'secret') {
    const key = encoder.encode(value)
    return verifier(() => key, { algorithms: ['HS256'], audience, issuer }, maxLifetimeSeconds)
  }
  if (name === 'publicKey') {
    const alg = publicKeyAlgorithm(value)
    const key = await importSPKI(value, alg)
    return verifier(() => key, { algorithms: [alg], audience, issuer }, maxLifetimeSeconds)
  }
  return verifier(createRemoteJWKSet(parseUrl(value)), { algorithms: ['RS256', 'ES256', 'EdDSA'], audience, issuer }, maxLifetimeSeconds)
}

function parseUrl(url: string): URL {
  try {
    return new URL(url)
  } catch (cause) {
    throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `jwksUrl is not a valid URL: ${JSON.stringify(url)}`, { cause })
  }
}

/** The key type fixes the algorithm, so a token cannot pick a weaker one for the same key. */
function publicKeyAlgorithm(pem: string): 'RS256' | 'EdDSA' {
  let type: string | undefined
  try {
    type = createPublicKey({ key: pem, format: 'pem', type: 'spki' }).asymmetricKeyType
  } catch (cause) {
    throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `publicKey is not a PEM-encoded SPKI public key: ${(cause as Error).message}`, { cause })
  }
  if (type === 'rsa') return 'RS256'
  if (type === 'ed25519') return 'EdDSA'
  throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `publicKey must be an RSA or Ed25519 key, got ${type ?? 'an unknown key type'}`)
}

/** Durations like 30s, 15m, 1h, 7d, in seconds; `flag` names the option in the error. */
export function parseTtl(ttl: string, flag = '--ttl'): number {
  const match = /^(\d+)([smhd])$/.exec(ttl)
  if (!match) throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `${flag} must look like 30s, 15m, 1h or 7d, got ${JSON.stringify(ttl)}`)
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[match[2] as 's' | 'm' | 'h' | 'd']
  return Number(match[1]) * unit
}

export function mintToken(secret: string, user: string, options: { ttl?: string; admin?: boolean } = {}): Promise<string> {
  return new SignJWT(options.admin ? { admin: true } : {})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(user)
    .setIssuedAt()
    .setExpirationTime(`${parseTtl(options.ttl ?? '1h')}s from now`)
    .sign(encoder.encode(secret))
}
