/**
 * A push subscription as a browser's PushSubscription.toJSON() gives it, checked at the
 * HTTP boundary: the schema (routes.ts) bounds the sizes, this checks the meaning.
 */
import { createHash, ECDH } from 'node:crypto'
import { isIP } from 'node:net'
import { ParleyError, ServerErrorCodes } from '../errors.ts'
import { base64urlLength } from './options.ts'

export interface SubscriptionInput { endpoint: string; keys: { p256dh: string; auth: string } }

/** The same endpoint always has the same ID, so a browser registering again replaces its record. */
export function deviceId(endpoint: string): string {
  return createHash('sha256').update(endpoint).digest('base64url').slice(0, 22)
}

function bad(message: string): never {
  throw new ParleyError(ServerErrorCodes.BAD_REQUEST, message)
}

/** Throws PARLEY_ERR_BAD_REQUEST saying what is wrong with the endpoint, unless it is one to POST pushes to. */
export function checkEndpoint(endpoint: string, allowPrivate: boolean): void {
  if (!URL.canParse(endpoint)) bad('endpoint must be an https URL')
  const url = new URL(endpoint)
  if (url.protocol !== 'https:') bad('endpoint must be an https URL (every push service is)')
  if (url.username || url.password) bad('endpoint must not carry credentials')
  if (allowPrivate) return
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  // Push services have public DNS names; the server must not be made to POST into its own network.
  if (isIP(host) !== 0 || !host.includes('.') || host === 'localhost' || /\.(localhost|local|internal|lan|home|corp)$/.test(host)) {
    bad(`endpoint host ${JSON.stringify(url.hostname)} is not a push service (an IP address, localhost or a local name)`)
  }
}

/** The keys as RFC 8291 needs them: p256dh a P-256 public key (65 bytes, uncompressed), auth 16 bytes. */
export function checkKeys(keys: { p256dh: string; auth: string }): void {
  if (base64urlLength(keys.auth) !== 16) bad('keys.auth must be 16 bytes, base64url')
  if (base64urlLength(keys.p256dh) !== 65) bad('keys.p256dh must be a 65-byte P-256 public key, base64url')
  try {
    // Throws when the bytes are not a point on the curve.
    ECDH.convertKey(Buffer.from(keys.p256dh, 'base64url'), 'prime256v1')
  } catch {
    bad('keys.p256dh is not a point on the P-256 curve')
  }
}
