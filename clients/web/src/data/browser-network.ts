/**
 * The browser's own word on the network. Chromium keeps an open WebSocket alive when the
 * network goes away (and so does DevTools' or Playwright's offline mode), so the app
 * drops the connection itself when the browser says it is offline, and does not try
 * again until it says it is back.
 */
import type { ParleyClient } from '@parley/client'

export function browserOnline(): boolean {
  return navigator.onLine
}

export function whenOnline(): Promise<void> {
  if (navigator.onLine) return Promise.resolve()
  return new Promise(resolve => window.addEventListener('online', () => resolve(), { once: true }))
}

/** Returns the function that stops watching. */
export function dropConnectionWhenOffline(client: ParleyClient): () => void {
  const drop = (): void => client.dropConnection()
  window.addEventListener('offline', drop)
  return () => window.removeEventListener('offline', drop)
}
