/**
 * The access registry's entries in LevelDB (`<data>/acl`, opened by databases.ts): the
 * single-node store.
 *
 *   doc:<document id>   → its entry (access/registry.ts DocEntry)
 *   actor:<actor id>    → the user bound to it
 *   change:<hash>       → 1 (the server accepted that change)
 */
import type { DocEntry, RegistryStore } from '../access/registry.ts'
import type { JsonDatabase } from './json-database.ts'

const DOC = 'doc:'
const ACTOR = 'actor:'
const CHANGE = 'change:'

export class LevelRegistryStore implements RegistryStore {
  readonly #db: JsonDatabase

  constructor(db: JsonDatabase) {
    this.#db = db
  }

  entry(documentId: string): Promise<DocEntry | undefined> {
    return this.#db.get<DocEntry>(DOC + documentId)
  }

  setEntry(documentId: string, entry: DocEntry): Promise<void> {
    return this.#db.put(DOC + documentId, entry)
  }

  actorOwner(actor: string): Promise<string | undefined> {
    return this.#db.get<string>(ACTOR + actor)
  }

  /** One process binds: the guard asks `actorOwner` first, so this stores the first binding. */
  async bindActor(actor: string, user: string): Promise<string> {
    await this.#db.put(ACTOR + actor, user)
    return user
  }

  accept(hashes: readonly string[]): Promise<void> {
    return this.#db.batch(hashes.map(hash => ({ key: CHANGE + hash, value: 1 })))
  }

  async wasAccepted(hash: string): Promise<boolean> {
    return (await this.#db.get(CHANGE + hash)) !== undefined
  }
}
