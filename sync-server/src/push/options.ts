/** Options of Web Push (docs/push.md), validated once with the server's options (config.ts). */
import type { Agent } from 'node:https'
import { ParleyError, ServerErrorCodes } from '../errors.ts'

export interface PushOptions {
  /** VAPID key pair, base64url (as `web-push generate-vapid-keys` prints it); both or neither. Neither: generated into `<data>/vapid.json` on first start. */
  vapidPublicKey?: string
  vapidPrivateKey?: string
  /** Who the push services may contact about this server: `mailto:` or `https:` (default mailto:admin@parley.invalid, with a warning at start). */
  vapidSubject?: string
  /** Put the message text in the notification payload (default false: conversation and sender only). */
  text?: boolean
  /** How long a push service keeps a message for a device that is offline, in seconds (default 1 day). */
  ttlSeconds?: number
  /** Subscriptions kept per user (default 10); registering one more drops that user's oldest. */
  maxDevicesPerUser?: number
  /**
   * Accept endpoints on IP literals, localhost and single-label names (default false: push
   * services have public DNS names, and the server must not be made to POST to its own network).
   */
  allowPrivateEndpoints?: boolean
  /** Failed pushes before a notification becomes a dead letter (default 8), and the backoff between them (default 500 ms .. 5 min). */
  maxAttempts?: number
  backoff?: { minMs: number; maxMs: number }
  /** Per request to a push service (default 10 s). */
  timeoutMs?: number
  /** The HTTPS agent requests go through (tests: one trusting a local push service's certificate). */
  agent?: Agent
}

export type ResolvedPushOptions = Readonly<
  Required<Pick<PushOptions, 'vapidSubject' | 'text' | 'ttlSeconds' | 'maxDevicesPerUser' | 'allowPrivateEndpoints' | 'maxAttempts' | 'timeoutMs'>> &
    Pick<PushOptions, 'vapidPublicKey' | 'vapidPrivateKey' | 'backoff' | 'agent'> & { subjectDefaulted: boolean }
>

export const DEFAULT_VAPID_SUBJECT = 'mailto:admin@parley.invalid'
const KNOWN = new Set(['vapidPublicKey', 'vapidPrivateKey', 'vapidSubject', 'text', 'ttlSeconds', 'maxDevicesPerUser', 'allowPrivateEndpoints', 'maxAttempts', 'backoff', 'timeoutMs', 'agent'])

function invalid(message: string): never {
  throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `push: ${message}`)
}

/** Defaults filled in, unknown keys and nonsense refused (PARLEY_ERR_INVALID_OPTION), then frozen. */
export function resolvePushOptions(options: PushOptions): ResolvedPushOptions {
  const unknown = Object.keys(options).filter(key => !KNOWN.has(key))
  if (unknown.length > 0) invalid(`unknown option ${unknown.join(', ')}`)
  const { vapidPublicKey, vapidPrivateKey } = options
  if ((vapidPublicKey === undefined) !== (vapidPrivateKey === undefined)) invalid('give both VAPID keys (--vapid-public-key and --vapid-private-key) or neither')
  if (vapidPublicKey !== undefined && base64urlLength(vapidPublicKey) !== 65) invalid('the VAPID public key must be 65 bytes (an uncompressed P-256 point), base64url')
  if (vapidPrivateKey !== undefined && base64urlLength(vapidPrivateKey) !== 32) invalid('the VAPID private key must be 32 bytes, base64url')
  const vapidSubject = options.vapidSubject ?? DEFAULT_VAPID_SUBJECT
  if (!/^(mailto:\S+@\S+|https:\/\/\S+)$/.test(vapidSubject)) invalid(`the VAPID subject must be a mailto: address or an https: URL, got ${JSON.stringify(vapidSubject)}`)
  const resolved = {
    ...options,
    vapidSubject,
    subjectDefaulted: options.vapidSubject === undefined,
    text: options.text ?? false,
    ttlSeconds: options.ttlSeconds ?? 86_400,
    maxDevicesPerUser: options.maxDevicesPerUser ?? 10,
    allowPrivateEndpoints: options.allowPrivateEndpoints ?? false,
    maxAttempts: options.maxAttempts ?? 8,
    timeoutMs: options.timeoutMs ?? 10_000,
  }
  if (typeof resolved.text !== 'boolean') invalid('text must be true or false')
  if (!Number.isInteger(resolved.ttlSeconds) || resolved.ttlSeconds < 0 || resolved.ttlSeconds > 2_419_200) invalid(`ttlSeconds must be 0 .. 2419200 (four weeks), got ${resolved.ttlSeconds}`)
  if (!Number.isInteger(resolved.maxDevicesPerUser) || resolved.maxDevicesPerUser < 1 || resolved.maxDevicesPerUser > 100) invalid(`maxDevicesPerUser must be 1 .. 100, got ${resolved.maxDevicesPerUser}`)
  return Object.freeze(resolved)
}

/** Decoded length of a base64url string, or -1 when it is not one. */
export function base64urlLength(value: string): number {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]*$/.test(value)) return -1
  return Buffer.from(value, 'base64url').length
}
