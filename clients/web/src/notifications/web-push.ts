/**
 * This browser's Web Push subscription and the server's record of it (docs/push.md):
 * turning notifications on asks for permission (only then, never on load), subscribes
 * through the service worker's PushManager with the server's VAPID key, and registers
 * the subscription; turning them off, or signing out, unsubscribes and deletes it.
 */
import { loadSession } from '../session/session.ts'

/** Why notifications cannot be turned on here, or undefined when they can. */
export async function unsupportedReason(): Promise<string | undefined> {
  if (!('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) return 'This browser cannot show notifications from Parley.'
  const response = await fetch('/v1/push').catch(() => undefined)
  if (!response?.ok) return 'This server does not send notifications.'
  return undefined
}

/** Whether this browser has a subscription (and may show notifications). */
export async function isSubscribed(): Promise<boolean> {
  if (!('serviceWorker' in navigator) || Notification.permission !== 'granted') return false
  const registration = await navigator.serviceWorker.getRegistration('/')
  return (await registration?.pushManager.getSubscription()) != null
}

export class NotificationsRefused extends Error {}

/** Asks for permission, subscribes and registers; throws with a message for the person when it cannot. */
export async function turnOn(): Promise<void> {
  const permission = await Notification.requestPermission()
  if (permission !== 'granted') throw new NotificationsRefused('Notifications are blocked for this site in your browser settings.')
  const { subscription, response } = await register()
  if (!response.ok) {
    await subscription.unsubscribe().catch(() => false)
    throw new Error(`The server did not take the subscription (${response.status}).`)
  }
}

/**
 * On load, a browser that is subscribed registers again, asking nothing: the server may
 * have dropped its record (a newer device over the per-user limit, a push service's 410),
 * or changed its key. Resolves with whether the server took it.
 */
export async function registerAgain(): Promise<boolean> {
  if (!(await isSubscribed())) return false
  return (await register()).response.ok
}

/** Subscribes (permission granted) unless subscribed with the server's key, and registers the subscription. */
async function register(): Promise<{ subscription: PushSubscription; response: Response }> {
  const { publicKey } = (await (await fetch('/v1/push')).json()) as { publicKey: string }
  const registration = await navigator.serviceWorker.ready
  let subscription = await registration.pushManager.getSubscription()
  // One made with another server key cannot be used: replace it.
  if (subscription && !sameKey(subscription.options.applicationServerKey, publicKey)) {
    await subscription.unsubscribe()
    subscription = null
  }
  subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64url(publicKey) })
  return { subscription, response: await api('POST', subscription.toJSON()) }
}

/** Deletes the server's record and unsubscribes; `token` when the session is going away (signing out). */
export async function turnOff(token?: string): Promise<void> {
  const registration = 'serviceWorker' in navigator ? await navigator.serviceWorker.getRegistration('/') : undefined
  const subscription = await registration?.pushManager.getSubscription()
  if (!subscription) return
  // Unsubscribe even when the server cannot be told: no push reaches this browser either way.
  await api('DELETE', { endpoint: subscription.endpoint }, token).catch(() => undefined)
  await subscription.unsubscribe().catch(() => false)
}

function api(method: 'POST' | 'DELETE', body: unknown, token = loadSession()?.token): Promise<Response> {
  return fetch('/v1/push/subscriptions', { method, headers: { 'content-type': 'application/json', authorization: `Bearer ${token ?? ''}` }, body: JSON.stringify(body) })
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'))
  return Uint8Array.from(binary, char => char.charCodeAt(0))
}

function sameKey(key: ArrayBuffer | null, publicKey: string): boolean {
  if (!key) return true
  const expected = fromBase64url(publicKey)
  const given = new Uint8Array(key)
  return given.length === expected.length && given.every((byte, i) => byte === expected[i])
}
