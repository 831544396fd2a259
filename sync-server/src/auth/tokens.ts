/**
 * HS256 tokens: `sub` is the user ID, `exp` is honoured. Other token kinds (public key,
 * JWKS) plug in here as further verifiers.
 */
import { jwtVerify, SignJWT } from 'jose'
import { ParleyError, ServerErrorCodes } from '../errors.ts'

export interface Identity {
  user: string
  /** Expiry in ms since the epoch, when the token has one. */
  expiresAt?: number
}

export type TokenVerifier = (token: string) => Promise<Identity>

const encoder = new TextEncoder()

export function hs256Verifier(secret: string): TokenVerifier {
  const key = encoder.encode(secret)
  return async token => {
    try {
      const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'] })
      if (typeof payload.sub !== 'string' || payload.sub === '') throw new Error('the token has no sub claim')
      return payload.exp === undefined ? { user: payload.sub } : { user: payload.sub, expiresAt: payload.exp * 1000 }
    } catch (cause) {
      throw new ParleyError(ServerErrorCodes.UNAUTHENTICATED, `invalid token: ${(cause as Error).message}`, { cause })
    }
  }
}

/** Durations like 30s, 15m, 1h, 7d. */
export function parseTtl(ttl: string): number {
  const match = /^(\d+)([smhd])$/.exec(ttl)
  if (!match) throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `--ttl must look like 30s, 15m, 1h or 7d, got ${JSON.stringify(ttl)}`)
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[match[2] as 's' | 'm' | 'h' | 'd']
  return Number(match[1]) * unit
}

export function mintToken(secret: string, user: string, options: { ttl?: string } = {}): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(user)
    .setIssuedAt()
    .setExpirationTime(`${parseTtl(options.ttl ?? '1h')}s from now`)
    .sign(encoder.encode(secret))
}
