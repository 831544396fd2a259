import { ClientErrorCodes, ParleyError } from './errors.ts'

export type TokenSource = string | (() => string | Promise<string>)

/** Reads `sub` from a JWT without verifying it: the server verifies; the client only needs to know who it is. */
export function tokenSubject(token: string): string {
  const payload = token.split('.')[1]
  if (!payload) throw new ParleyError(ClientErrorCodes.INVALID_OPTION, 'token is not a JWT')
  let claims: { sub?: unknown }
  try {
    claims = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/')))
  } catch (cause) {
    throw new ParleyError(ClientErrorCodes.INVALID_OPTION, 'token payload is not JSON', { cause })
  }
  if (typeof claims.sub !== 'string' || claims.sub === '') {
    throw new ParleyError(ClientErrorCodes.INVALID_OPTION, 'token has no sub (user ID) claim')
  }
  return claims.sub
}

export function tokenGetter(source: TokenSource): () => Promise<string> {
  return typeof source === 'string' ? async () => source : async () => source()
}
