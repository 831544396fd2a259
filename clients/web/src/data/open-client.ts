/**
 * The signed-in user's Parley client: a replica in IndexedDB (one database per user, so
 * everything written survives a reload, offline included) that syncs with the server
 * this page came from.
 */
import { IndexedDBStorageAdapter } from '@automerge/automerge-repo-storage-indexeddb'
import { createClient, type ParleyClient } from '@parley/client'
import { devSignIn } from '../session/dev-sign-in.ts'
import { readClaims } from '../session/jwt.ts'
import { saveSession, type Session } from '../session/session.ts'
import { whenOnline } from './browser-network.ts'

/** A development token this close to its expiry is replaced before connecting. */
const REFRESH_BEFORE_MS = 60_000

export function databaseName(user: string): string {
  return `parley-${user}`
}

export function openClient(session: Session): Promise<ParleyClient> {
  let current = session
  let first = true
  const token = async (): Promise<string> => {
    // The first call is createClient reading who the user is: answer it at once, offline too.
    if (first) {
      first = false
      return current.token
    }
    // Every later call precedes a connection attempt: none is made while the browser is offline.
    await whenOnline()
    const expiresAt = readClaims(current.token)?.expiresAt
    if (current.dev && expiresAt !== undefined && expiresAt - Date.now() < REFRESH_BEFORE_MS) {
      try {
        current = await devSignIn(current.user)
        saveSession(current)
      } catch {
        // Keep the old token: the server will say why it refuses it.
      }
    }
    return current.token
  }
  return createClient({
    server: location.origin,
    token,
    storage: { kind: 'custom', adapter: new IndexedDBStorageAdapter(databaseName(session.user)) },
    reconnect: { minMs: 250, maxMs: 10_000 },
  })
}
