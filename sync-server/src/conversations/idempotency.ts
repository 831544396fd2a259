/**
 * Event IDs for `POST …/messages {"idempotencyKey"}`. The ID is an HMAC of the caller,
 * the conversation and the key under a secret only the server holds: a member who knows
 * another's key (or guesses it: `deploy-1`) cannot compute the ID and write an event
 * under it first. An unkeyed hash of those public inputs could be, and the victim's
 * retry then answered with the squatter's event (docs/security.md, idempotency keys).
 *
 * The secret is generated once and kept in the data directory (mode 0600), so a retry
 * after a restart derives the same ID; nodes of a cluster share one given as
 * `--idempotency-secret` (config.ts `idempotencySecret`).
 */
import { createHmac, randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ParleyEvent } from '@parley/core'
import { ParleyError, ServerErrorCodes } from '../errors.ts'

/** The event ID `user`'s message with idempotency `key` gets in `conversationId`. */
export function idempotentEventId(secret: string, user: string, conversationId: string, key: string): string {
  // Length-prefixed parts: no two (user, conversation, key) triples give the same input.
  const input = [user, conversationId, key].map(part => `${part.length}:${part}`).join('\0')
  return `idem-${createHmac('sha256', secret).update(input).digest().subarray(0, 16).toString('base64url')}`
}

/**
 * The ID of an event the server writes itself under `key` (a moderation decision:
 * moderation/moderator.ts), the same on every node and after a restart, so writing it
 * again finds the first. Keyed like a user's: nobody may write under it first and make
 * the server's write fail. Its input starts with `server`, a user's with the user name's
 * length, so no user's key gives a server's ID.
 */
export function serverEventId(secret: string, conversationId: string, key: string): string {
  const input = ['server', conversationId, key].map(part => `${part.length}:${part}`).join('\0')
  return `srv-${createHmac('sha256', secret).update(`server\0${input}`).digest().subarray(0, 16).toString('base64url')}`
}

/**
 * Why the event already stored under a retry's ID may not be returned to `user`, or
 * undefined when it is their own earlier message with the same text and priority.
 */
export function refusesRetry(event: ParleyEvent, user: string, body: { text: string; priority?: 'high' | 'normal' | 'low' }): ParleyError | undefined {
  if (event.author !== user || event.type !== 'message') return new ParleyError(ServerErrorCodes.FORBIDDEN, 'the event stored under this idempotency key is not your message')
  if (event.text !== body.text || (event.priority ?? 'normal') !== (body.priority ?? 'normal')) {
    return new ParleyError(ServerErrorCodes.BAD_REQUEST, 'this idempotencyKey was used for a different message: a retry must send the same text and priority')
  }
  return undefined
}

/** The data directory's idempotency secret, created on first use. */
export async function idempotencySecret(dataDir: string): Promise<string> {
  const path = join(dataDir, 'idempotency-secret')
  try {
    return (await readFile(path, 'utf8')).trim()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  await mkdir(dataDir, { recursive: true })
  await writeFile(path, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' }).catch(error => {
    // Another process created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  })
  return (await readFile(path, 'utf8')).trim()
}
