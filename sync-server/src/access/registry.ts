/**
 * Who may read and write which document, kept apart from the documents themselves so
 * that answering never loads one: automerge-repo asks `access(peer, doc)` for every
 * peer on every message. Entries live in their own LevelDB (`<data>/acl`) and in a
 * load-through memory cache; an absent document is cached as `null`.
 *
 * - a head lists its members with their roles (updated whenever the head changes);
 * - a segment names its conversation (and who created it); a segment ID listed by a
 *   head before its document arrived is `reserved` for that conversation;
 * - an inbox names its user.
 *
 * Actors (Automerge's per-device writer IDs) are bound to the first user who writes
 * with them, so no one else can author changes under that actor. The hash of every
 * change the server accepted is kept too: a client may re-send another user's change
 * only if the server had accepted it (and then lost it in a crash before saving).
 */
import type { Head, Role } from '@parley/core'
import { Level } from 'level'

export type DocEntry =
  | { type: 'head'; members: Record<string, Role> }
  | { type: 'segment'; conversation: string; creator?: string; reserved?: true }
  | { type: 'inbox'; user: string }

const DOC = 'doc:'
const ACTOR = 'actor:'
const CHANGE = 'change:'

export class AccessRegistry {
  readonly #db: Level<string, unknown>
  readonly #docs = new Map<string, DocEntry | null>()
  readonly #actors = new Map<string, string | null>()

  private constructor(db: Level<string, unknown>) {
    this.#db = db
  }

  static async open(location: string): Promise<AccessRegistry> {
    const db = new Level<string, unknown>(location, { valueEncoding: 'json' })
    await db.open()
    return new AccessRegistry(db)
  }

  close(): Promise<void> {
    return this.#db.close()
  }

  /** The entry of a document (null when unregistered), and of its conversation for a segment. */
  async entry(documentId: string): Promise<DocEntry | null> {
    const entry = await this.#load(documentId)
    if (entry?.type === 'segment') await this.#load(entry.conversation)
    return entry
  }

  register(documentId: string, entry: DocEntry): Promise<void> {
    this.#docs.set(documentId, entry)
    return this.#db.put(DOC + documentId, entry)
  }

  /**
   * Records a head's current members; true when they changed. The cache changes at once,
   * so the next message about the conversation already sees the new membership.
   */
  async setMembers(conversationId: string, members: Record<string, Role>): Promise<boolean> {
    const current = this.#docs.get(conversationId)
    if (current?.type === 'head' && sameMembers(current.members, members)) return false
    await this.register(conversationId, { type: 'head', members })
    return true
  }

  /** Members of a conversation from the cache (after `entry` loaded it). */
  membersOf(conversationId: string): Record<string, Role> | undefined {
    const head = this.#docs.get(conversationId)
    return head?.type === 'head' ? head.members : undefined
  }

  /**
   * May `user` read `documentId`? Synchronous: answers from the cache only, so callers
   * `await entry(documentId)` first. A document never loaded into the cache is refused;
   * an unregistered one is allowed (there is nothing stored to leak, and new documents
   * are checked when their first changes arrive).
   */
  canRead(user: string, documentId: string): boolean {
    const entry = this.#docs.get(documentId)
    if (entry === undefined) return false
    if (entry === null) return true
    switch (entry.type) {
      case 'head':
        return user in entry.members
      case 'inbox':
        return entry.user === user
      case 'segment': {
        const members = this.membersOf(entry.conversation)
        // A segment that arrived before its head: only its creator, until the head exists.
        return members ? user in members : entry.creator === user
      }
    }
  }

  /** `canRead` after loading the entry: for callers that may wait. */
  async mayRead(user: string, documentId: string): Promise<boolean> {
    await this.entry(documentId)
    return this.canRead(user, documentId)
  }

  async actorOwner(actor: string): Promise<string | undefined> {
    let owner = this.#actors.get(actor)
    if (owner === undefined) {
      owner = ((await this.#db.get(ACTOR + actor)) as string | undefined) ?? null
      this.#actors.set(actor, owner)
    }
    return owner ?? undefined
  }

  async bindActor(actor: string, user: string): Promise<void> {
    this.#actors.set(actor, user)
    await this.#db.put(ACTOR + actor, user)
  }

  /** Records changes the server checked and let through, by hash, before they are relayed. */
  accept(hashes: string[]): Promise<void> {
    return this.#db.batch(hashes.map(hash => ({ type: 'put' as const, key: CHANGE + hash, value: 1 })))
  }

  async wasAccepted(hash: string): Promise<boolean> {
    return (await this.#db.get(CHANGE + hash)) !== undefined
  }

  async #load(documentId: string): Promise<DocEntry | null> {
    const cached = this.#docs.get(documentId)
    if (cached !== undefined) return cached
    const entry = ((await this.#db.get(DOC + documentId)) as DocEntry | undefined) ?? null
    // A register() that raced this load wins.
    if (!this.#docs.has(documentId)) this.#docs.set(documentId, entry)
    return this.#docs.get(documentId) ?? null
  }
}

function sameMembers(a: Record<string, Role>, b: Record<string, Role>): boolean {
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every(key => a[key] === b[key])
}

/** A head's members with their roles, as a head entry records them. */
export function rolesOf(head: Head): Record<string, Role> {
  return Object.fromEntries(Object.entries(head.members).map(([user, { role }]) => [user, role]))
}
