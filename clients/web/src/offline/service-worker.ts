/**
 * The service worker: every file of the build is cached when it installs, and served
 * from the cache first, so a reload with no network still opens the app (the messages
 * themselves live in IndexedDB). A new build is a new cache; old ones are dropped when
 * it activates. API and sync requests are never touched.
 *
 * It also shows Web Push notifications (docs/push.md): one per conversation (the tag), not
 * while that conversation is open in a visible window, and a click opens it.
 *
 * Compiled on its own by build/service-worker.ts, which fills in the two placeholders
 * (one file, no imports: the route format below is ui/route.ts's).
 */
const PRECACHE = JSON.parse('__PRECACHE__') as string[]
const CACHE = `parley-app-${'__VERSION__'}`

/** The slice of the service worker global scope used here (the DOM lib lacks it). */
interface WindowClient {
  url: string
  visibilityState: DocumentVisibilityState
  focus(): Promise<WindowClient>
  postMessage(message: unknown, transfer?: Transferable[]): void
}
interface WorkerScope {
  skipWaiting(): Promise<void>
  clients: { claim(): Promise<void>; matchAll(options: { type: 'window'; includeUncontrolled: boolean }): Promise<WindowClient[]>; openWindow(url: string): Promise<WindowClient | null> }
  registration: { showNotification(title: string, options: NotificationOptions & { renotify?: boolean }): Promise<void> }
  addEventListener(type: 'install' | 'activate', listener: (event: { waitUntil(work: Promise<unknown>): void }) => void): void
  addEventListener(type: 'fetch', listener: (event: { request: Request; respondWith(response: Promise<Response>): void }) => void): void
  addEventListener(type: 'push', listener: (event: { data: { json(): unknown } | null; waitUntil(work: Promise<unknown>): void }) => void): void
  addEventListener(type: 'notificationclick', listener: (event: { notification: Notification; waitUntil(work: Promise<unknown>): void }) => void): void
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

/** What the server pushes (sync-server/src/push/payload.ts); anything else is ignored. */
interface PushPayload { conversationId: string; title?: string; sender: string; text?: string }

function readPayload(data: { json(): unknown } | null): PushPayload | undefined {
  try {
    const value = data?.json() as Partial<PushPayload> | undefined
    return typeof value?.conversationId === 'string' && typeof value.sender === 'string' ? (value as PushPayload) : undefined
  } catch {
    return undefined
  }
}

/** How long a window may take to say what it shows; one that does not answer (frozen, closing) shows nothing. */
const ASK_MS = 1000

/**
 * The conversation a window shows, as it answers itself (offline/register.ts): a client's
 * URL here is the one it was created with, without the route in its hash.
 */
function shownIn(client: WindowClient): Promise<string | undefined> {
  return new Promise(resolve => {
    const channel = new MessageChannel()
    const timer = setTimeout(() => resolve(undefined), ASK_MS)
    channel.port1.onmessage = event => {
      clearTimeout(timer)
      resolve(typeof event.data === 'string' ? event.data : undefined)
    }
    client.postMessage({ type: 'parley:which-conversation' }, [channel.port2])
  })
}

async function notify(payload: PushPayload): Promise<void> {
  const windows = await worker.clients.matchAll({ type: 'window', includeUncontrolled: true })
  const shown = await Promise.all(windows.filter(client => client.visibilityState === 'visible').map(shownIn))
  // The person is looking at it: the timeline shows the message already.
  if (shown.includes(payload.conversationId)) return
  await worker.registration.showNotification(payload.title || payload.sender, {
    body: payload.text === undefined ? `${payload.sender} sent a message` : `${payload.sender}: ${payload.text}`,
    tag: payload.conversationId,
    renotify: true,
    icon: '/favicon.svg',
    data: { conversationId: payload.conversationId },
  })
}

worker.addEventListener('push', event => {
  const payload = readPayload(event.data)
  if (payload) event.waitUntil(notify(payload))
})

/** Shows the conversation in a window of the app (the first one found), or opens one at it. */
async function openConversation(conversationId: string): Promise<void> {
  const windows = await worker.clients.matchAll({ type: 'window', includeUncontrolled: true })
  const open = windows.find(client => new URL(client.url).origin === location.origin)
  if (!open) {
    await worker.clients.openWindow(`/#/c/${encodeURIComponent(conversationId)}`)
    return
  }
  // offline/register.ts moves that window to the conversation.
  open.postMessage({ type: 'parley:open-conversation', conversationId })
  await open.focus().catch(() => undefined)
}

worker.addEventListener('notificationclick', event => {
  event.notification.close()
  const conversationId = (event.notification.data as { conversationId?: unknown } | null)?.conversationId
  if (typeof conversationId === 'string') event.waitUntil(openConversation(conversationId))
})
