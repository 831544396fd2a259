import { openConversation, openConversationId } from '../ui/route.ts'

/** Registers the service worker that lets the app open with no network (see service-worker.ts). */
export function registerServiceWorker(): void {
  if (!('serviceWorker' in navigator)) return
  // A notification clicked while this window is open: show its conversation here.
  navigator.serviceWorker.addEventListener('message', (event: MessageEvent<{ type?: unknown; conversationId?: unknown }>) => {
    if (event.data?.type === 'parley:open-conversation' && typeof event.data.conversationId === 'string') openConversation(event.data.conversationId)
    // Asked before a notification is shown: none for the conversation on screen.
    if (event.data?.type === 'parley:which-conversation') event.ports[0]?.postMessage(openConversationId() ?? null)
  })
  navigator.serviceWorker.startMessages()
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {
    // Without it the app still works online; only a reload with no network fails.
  })
}
