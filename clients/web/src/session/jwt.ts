/** Reads a JWT's claims without verifying it: the server verifies; the app only needs who and until when. */
export interface Claims {
  sub: string
  /** Expiry, ms since the epoch, when the token has one. */
  expiresAt?: number
}

export function readClaims(token: string): Claims | undefined {
  const payload = token.trim().split('.')[1]
  if (!payload) return undefined
  try {
    const claims = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as { sub?: unknown; exp?: unknown }
    if (typeof claims.sub !== 'string' || claims.sub === '') return undefined
    return typeof claims.exp === 'number' ? { sub: claims.sub, expiresAt: claims.exp * 1000 } : { sub: claims.sub }
  } catch {
    return undefined
  }
}
