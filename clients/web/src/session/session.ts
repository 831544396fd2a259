/**
 * Who is signed in on this browser: the user, their token, and whether it came from the
 * server's development sign-in (then a fresh one can be asked for when it runs out).
 * Kept in localStorage; the messages themselves are in IndexedDB, one database per user.
 */
import { readClaims } from './jwt.ts'

export interface Session {
  user: string
  token: string
  /** The token came from POST /v1/dev/token. */
  dev: boolean
}

const KEY = 'parley.session'

export function loadSession(): Session | undefined {
  try {
    const session = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Session | null
    if (!session || typeof session.token !== 'string' || readClaims(session.token)?.sub !== session.user) return undefined
    return session
  } catch {
    return undefined
  }
}

export function saveSession(session: Session): void {
  localStorage.setItem(KEY, JSON.stringify(session))
}

export function clearSession(): void {
  localStorage.removeItem(KEY)
}

/** A session from a pasted token; throws with a message for the form when it is not one. */
export function sessionFromToken(token: string): Session {
  const claims = readClaims(token)
  if (!claims) throw new Error('That is not a Parley token (a JWT with the user ID as "sub").')
  if (claims.expiresAt !== undefined && claims.expiresAt <= Date.now()) throw new Error('That token has expired. Ask for a new one.')
  return { user: claims.sub, token: token.trim(), dev: false }
}
