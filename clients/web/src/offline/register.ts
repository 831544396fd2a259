/** Registers the service worker that lets the app open with no network (see service-worker.ts). */
export function registerServiceWorker(): void {
  if (!('serviceWorker' in navigator)) return
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {
    // Without it the app still works online; only a reload with no network fails.
  })
}
