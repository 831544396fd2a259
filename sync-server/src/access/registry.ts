/**
 * Who may read and write which document, kept apart from the documents themselves so
 * that answering never loads one: automerge-repo asks `access(peer, doc)` for every
 * peer on every message. Entries live in a `RegistryStore` (LevelDB under `<data>/acl`,
 * storage/level-registry-store.ts; or PostgreSQL, shared by a cluster's nodes,
 * storage/postgres/registry-store.ts; opened by storage/databases.ts) and in a
 * load-through memory cache. Absent documents are
 * remembered apart, the most recent MAX_CACHED_ABSENT only: their IDs are whatever clients
 * ask about (a heads request names up to 10,000), so caching each for ever grew the heap
 * without bound (docs/security.md). One forgotten is read from the database again.
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
import { BoundedMap, type Head, type Role } from '@parley/core'

export type DocEntry =
  | { type: 'head'; members: Record<string, Role> }
  | { type: 'segment'; conversation: string; creator?: string; reserved?: true }
  | { type: 'inbox'; user: string }

/** Where the registry's entries are kept; the registry caches in front of it. */
export interface RegistryStore {
  entry(documentId: string): Promise<DocEntry | undefined>
  setEntry(documentId: string, entry: DocEntry): Promise<void>
  actorOwner(actor: string): Promise<string | undefined>
  /** Binds an unbound actor to `user`; resolves with the actor's owner as stored (another, if it was bound first). */
  bindActor(actor: string, user: string): Promise<string>
  /** Records accepted change hashes, all in one write. */
  accept(hashes: readonly string[]): Promise<void>
  wasAccepted(hash: string): Promise<boolean>
}

/** Actor owners kept in memory; the rest are read from the database when asked. */
const MAX_CACHED_ACTORS = 2_000
/** Absent (unregistered) document IDs kept in memory: those asked about most recently. */
const MAX_CACHED_ABSENT = 10_000

export class AccessRegistry {
  readonly #store: RegistryStore
  readonly #docs = new Map<string, DocEntry | null>()
  /** Document IDs known to have no entry (bounded: client-chosen); asking again keeps one. */
  readonly #absent = new BoundedMap<string, true>(MAX_CACHED_ABSENT)
  /** Every device session writes under new actors: the cache keeps the most recent ones. */
  readonly #actors = new BoundedMap<string, string | null>(MAX_CACHED_ACTORS)
  #locate: ((documentId: string) => Promise<DocEntry | null>) | undefined
  readonly #locating = new Map<string, Promise<DocEntry | null>>()

  constructor(store: RegistryStore) {
    this.#store = store
  }

  /** The entry of a document (null when unregistered), and of its conversation for a segment. */
  async entry(documentId: string): Promise<DocEntry | null> {
    const entry = await this.#load(documentId)
    if (entry?.type === 'segment') await this.#load(entry.conversation)
    return entry
  }

  register(documentId: string, entry: DocEntry): Promise<void> {
    this.#absent.delete(documentId)
    this.#docs.set(documentId, entry)
    return this.#store.setEntry(documentId, entry)
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

  /**
   * Drops a document's entry from the cache (its document was unloaded); the next
   * `entry` reads it again. Until then `canRead` refuses it, and a segment of a
   * conversation whose head entry was dropped: the callers load entries before asking.
   */
  forget(documentId: string): void {
    this.#docs.delete(documentId)
    this.#absent.delete(documentId)
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
    if (entry === undefined) return this.#absent.has(documentId)
    if (entry === null) return true
    switch (entry.type) {
      case 'head':
        return isMember(entry.members, user)
      case 'inbox':
        return entry.user === user
      case 'segment': {
        const head = this.#docs.get(entry.conversation) ?? (this.#absent.has(entry.conversation) ? null : undefined)
        if (head === undefined) return false
        // A segment that arrived before its head: only its creator, until the head exists.
        return head?.type === 'head' ? isMember(head.members, user) : entry.creator === user
      }
    }
  }

  /** `canRead` after loading the entry: for callers that may wait (answered at once when the cache holds it). */
  mayRead(user: string, documentId: string): boolean | Promise<boolean> {
    const entry = this.#docs.get(documentId)
    const cached = entry !== undefined && (entry?.type !== 'segment' || this.#docs.has(entry.conversation))
    if (cached) return this.canRead(user, documentId)
    return this.entry(documentId).then(() => this.canRead(user, documentId))
  }

  async actorOwner(actor: string): Promise<string | undefined> {
    let owner = this.#actors.get(actor)
    if (owner === undefined) {
      owner = (await this.#store.actorOwner(actor)) ?? null
      this.#actors.set(actor, owner)
    }
    return owner ?? undefined
  }

  async bindActor(actor: string, user: string): Promise<void> {
    this.#actors.set(actor, user)
    // Nodes sharing a store may bind one actor at once: the binding stored first stands.
    const owner = await this.#store.bindActor(actor, user)
    if (owner !== user) this.#actors.set(actor, owner)
  }

  /** Records changes the server checked and let through, by hash, before they are relayed. */
  accept(hashes: readonly string[]): Promise<void> {
    return this.#store.accept(hashes)
  }

  async wasAccepted(hash: string): Promise<boolean> {
    return this.#store.wasAccepted(hash)
  }

  /**
   * In a cluster: asks the other nodes about a document this node has no entry for,
   * before "unregistered" is believed (cluster/registry-facts.ts). What they answer is kept.
   */
  setLocator(locate: (documentId: string) => Promise<DocEntry | null>): void {
    this.#locate = locate
  }

  /** The entry this node holds, never asking other nodes. */
  localEntry(documentId: string): Promise<DocEntry | null> {
    return this.#load(documentId, false)
  }

  /**
   * The entry as the store has it now, past a cached "unregistered" (sharing PostgreSQL,
   * another node may have registered it since). The cache keeps what it knew until the
   * read returns: dropped meanwhile, an unregistered head made its segments unreadable to
   * their creator for that round trip, and an answer sent then became doc-unavailable
   * (network/server-adapter.ts).
   */
  async reread(documentId: string): Promise<DocEntry | null> {
    const entry = (await this.#store.entry(documentId)) ?? null
    if (entry !== null && !this.#docs.has(documentId)) {
      this.#absent.delete(documentId)
      this.#docs.set(documentId, entry)
    }
    return this.#docs.get(documentId) ?? null
  }

  /**
   * Records an entry another node of the cluster holds, unless this node has one (a
   * segment only reserved here gives way to the real one).
   */
  async learn(documentId: string, entry: DocEntry): Promise<void> {
    const local = await this.#load(documentId, false)
    if (local === null || (local.type === 'segment' && local.reserved && entry.type === 'segment' && !entry.reserved)) await this.register(documentId, entry)
  }

  async #load(documentId: string, locate = true): Promise<DocEntry | null> {
    const cached = this.#docs.get(documentId)
    if (cached !== undefined) return cached
    if (this.#absent.has(documentId)) {
      this.#absent.set(documentId, true)
      return null
    }
    let entry = (await this.#store.entry(documentId)) ?? null
    if (entry === null && locate && this.#locate) {
      entry = await this.#located(documentId)
      if (entry !== null && !this.#docs.has(documentId)) await this.register(documentId, entry)
    }
    // A register() that raced this load wins.
    if (!this.#docs.has(documentId)) {
      if (entry === null) this.#absent.set(documentId, true)
      else this.#docs.set(documentId, entry)
    }
    return this.#docs.get(documentId) ?? null
  }

  /** One question per document at a time. */
  #located(documentId: string): Promise<DocEntry | null> {
    let asking = this.#locating.get(documentId)
    if (!asking) {
      asking = this.#locate!(documentId).finally(() => this.#locating.delete(documentId))
      this.#locating.set(documentId, asking)
    }
    return asking
  }
}

function sameMembers(a: Record<string, Role>, b: Record<string, Role>): boolean {
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every(key => roleIn(b, key) === a[key])
}

/**
 * The role `user` holds in a members record, own properties only: a user named
 * `constructor` or `toString` is not a member of every conversation (docs/security.md).
 */
export function roleIn(members: Record<string, Role>, user: string): Role | undefined {
  return Object.hasOwn(members, user) ? members[user] : undefined
}

export function isMember(members: Record<string, Role>, user: string): boolean {
  return Object.hasOwn(members, user)
}

/** A head's members with their roles, as a head entry records them (own keys, no prototype to inherit from). */
export function rolesOf(head: Head): Record<string, Role> {
  const roles: Record<string, Role> = Object.create(null)
  for (const [user, { role }] of Object.entries(head.members)) roles[user] = role
  return roles
}
