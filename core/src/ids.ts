import bs58check from 'bs58check'
import { sha256 } from '@noble/hashes/sha2'
import { DEFAULT_LIMITS, type Limits } from './validate.ts'

const encoder = new TextEncoder()

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
/**
 * Random bytes for 256 IDs at a time: each getRandomValues call costs some 15 µs in Node
 * (its argument checks and the call into the CSPRNG), which was most of an event's stamp on
 * every send (issue 15). The bytes are the same CSPRNG's, handed out once each.
 */
const POOL_BYTES = 12 * 256
let pool = new Uint8Array(0)
let taken = 0

/** A random, URL-safe identifier (96 bits, 16 base64url characters) for events and devices. */
export function randomId(): string {
  if (taken + 12 > pool.length) {
    pool = crypto.getRandomValues(new Uint8Array(POOL_BYTES))
    taken = 0
  }
  const id = base64url(pool, taken)
  taken += 12
  return id
}

/** 12 bytes from `start` as 16 base64url characters (four groups of 3 bytes: no padding). */
function base64url(bytes: Uint8Array, start: number): string {
  let out = ''
  for (let at = start; at < start + 12; at += 3) {
    const group = (bytes[at]! << 16) | (bytes[at + 1]! << 8) | bytes[at + 2]!
    out += BASE64URL[group >> 18]! + BASE64URL[(group >> 12) & 63]! + BASE64URL[(group >> 6) & 63]! + BASE64URL[group & 63]!
  }
  return out
}

/** Length of an ID made by eventId: a random part, then its author tag, 16 characters each. */
const BOUND_ID_LENGTH = 32

/**
 * A new event's ID, bound to its author: 16 random characters, then 16 of SHA-256 over the
 * author and those (96 bits). Another author's event under the same ID does not pass
 * isEventIdOf (their tag for the same random part differs but by a 2^-96 chance), so it
 * is looked up and refused as before; an event whose ID passes needs no lookup: no other
 * author can hold it (sync-server/src/events/event-ids.ts; docs/security.md, "Event-ID
 * shadowing"). Other IDs (older clients' 16 random characters, the server's `idem-` and
 * `srv-` ones) are never 32 characters long.
 */
export function eventId(author: string): string {
  const random = randomId()
  return random + authorTag(author, random)
}

/** Is `id` one that eventId made for `author`? */
export function isEventIdOf(id: string, author: string): boolean {
  return id.length === BOUND_ID_LENGTH && id.endsWith(authorTag(author, id.slice(0, BOUND_ID_LENGTH / 2)))
}

function authorTag(author: string, random: string): string {
  return base64url(sha256(encoder.encode(`parley event id\0${author}\0${random}`)), 0)
}

/** 16 bytes derived from a name: stable across devices and servers. */
export function derivedBytes(namespace: string, name: string): Uint8Array {
  return sha256(encoder.encode(`${namespace}\0${name}`)).slice(0, 16)
}

/** An automerge-repo document ID (bs58check of 16 bytes) derived from a name. */
export function derivedDocumentId(namespace: string, name: string): string {
  return bs58check.encode(derivedBytes(namespace, name))
}

/** Accepts a bare document ID or its `automerge:` URL form. */
export function bareDocumentId(idOrUrl: string): string {
  return idOrUrl.startsWith('automerge:') ? idOrUrl.slice('automerge:'.length).split('#')[0]! : idOrUrl
}

/**
 * The names every JavaScript object inherits from Object.prototype, listed rather than
 * read from the runtime so the rule is the same everywhere.
 */
export const INHERITED_NAMES: readonly string[] = Object.freeze([
  '__proto__', 'constructor', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable', 'toLocaleString',
  'toString', 'valueOf', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__',
])

/** User IDs the server writes under (events.ts MODERATION_AUTHOR): no token or member may have one. */
export const RESERVED_USER_PREFIX = 'parley:'

/**
 * May `user` be a user ID (a token's `sub`, a member of a conversation, an event's
 * author)? Non-empty, at most `maxIdLength` characters, not a name every object
 * inherits, and not one of the server's own (RESERVED_USER_PREFIX: a user named
 * `parley:moderation` would post as the moderator). Automerge materializes a map key
 * `__proto__` as the object's prototype (the member vanishes from `Object.keys` and its
 * fields become members of their own), and any lookup that forgets own-property
 * semantics would make `constructor` or `toString` a member of everything
 * (docs/security.md).
 */
export function isValidUserId(user: unknown, limits: Pick<Limits, 'maxIdLength'> = DEFAULT_LIMITS): boolean {
  return typeof user === 'string' && user.length > 0 && user.length <= limits.maxIdLength && !INHERITED_NAMES.includes(user) && !user.startsWith(RESERVED_USER_PREFIX)
}
