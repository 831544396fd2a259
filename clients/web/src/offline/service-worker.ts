/**
 * The service worker: every file of the build is cached when it installs, and served
 * from the cache first, so a reload with no network still opens the app (the messages
 * themselves live in IndexedDB). A new build is a new cache; old ones are dropped when
 * it activates. API and sync requests are never touched.
 *
 * Compiled on its own by build/service-worker.ts, which fills in the two placeholders.
 */
const PRECACHE = JSON.parse('__PRECACHE__') as string[]
const CACHE = `parley-app-${'__VERSION__'}`

/** The slice of the service worker global scope used here (the DOM lib lacks it). */
interface WorkerScope {
  skipWaiting(): Promise<void>
  clients: { claim(): Promise<void> }
  addEventListener(type: 'install' | 'activate', listener: (event: { waitUntil(work: Promise<unknown>): void }) => void): void
  addEventListener(type: 'fetch', listener: (event: { request: Request; respondWith(response: Promise<Response>): void }) => void): void
}

const worker = self as unknown as WorkerScope

worker.addEventListener('install', event => {
  event.waitUntil(caches.open(CACHE).then(cache => cache.addAll(PRECACHE)).then(() => worker.skipWaiting()))
})

worker.addEventListener('activate', event => {
  const stale = caches.keys().then(keys => Promise.all(keys.filter(key => key.startsWith('parley-app-') && key !== CACHE).map(key => caches.delete(key))))
  event.waitUntil(stale.then(() => worker.clients.claim()))
})

async function cachedFirst(request: Request, fallback?: string): Promise<Response> {
  const cache = await caches.open(CACHE)
  const hit = (await cache.match(request, { ignoreSearch: true })) ?? (fallback ? await cache.match(fallback) : undefined)
  return hit ?? fetch(request)
}

worker.addEventListener('fetch', event => {
  const { request } = event
  if (request.method !== 'GET') return
  const url = new URL(request.url)
  if (url.origin !== location.origin) return
  // The app is one page; its routes live in the hash, which never reaches here.
  if (request.mode === 'navigate' && (url.pathname === '/' || url.pathname === '/index.html')) return event.respondWith(cachedFirst(request, '/'))
  if (PRECACHE.includes(url.pathname)) event.respondWith(cachedFirst(request))
})
