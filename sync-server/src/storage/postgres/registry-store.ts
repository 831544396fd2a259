/**
 * The access registry's entries in PostgreSQL (migration 2), shared by every node of a
 * cluster. Writes that arrive while one is out go together in the next (../write-batch.ts):
 * one round trip for all of them, shared with the other writes of its turn (pool.ts `write`).
 *
 * An actor is bound once: the first binding stored wins, so two nodes binding one actor
 * to two users at once cannot let the second overwrite the first, and the second learns
 * the real owner (bindActor answers it). Bindings are rare (a device session's first
 * change), so each is its own round trip.
 */
import type { DocEntry, RegistryStore } from '../../access/registry.ts'
import type { PostgresPool } from './pool.ts'
import { WriteBatch } from '../write-batch.ts'

export class PostgresRegistryStore implements RegistryStore {
  readonly #pool: PostgresPool
  readonly #entries: WriteBatch<[string, DocEntry]>
  readonly #accepted: WriteBatch<string>

  constructor(pool: PostgresPool) {
    this.#pool = pool
    this.#entries = new WriteBatch(async entries => {
      // One row per document in a statement (ON CONFLICT cannot touch a row twice): the last write wins, as it would one by one.
      const latest = [...new Map(entries)].sort(byKey)
      await pool.write(
        `INSERT INTO parley_registry_entries (document_id, entry) SELECT * FROM unnest($1::text[], $2::jsonb[])
         ON CONFLICT (document_id) DO UPDATE SET entry = excluded.entry`,
        [latest.map(([id]) => id), latest.map(([, entry]) => JSON.stringify(entry))],
        '1 entries',
      )
    })
    this.#accepted = new WriteBatch(async hashes => {
      await pool.write('INSERT INTO parley_accepted_changes (hash) SELECT unnest($1::text[]) ON CONFLICT (hash) DO NOTHING', [[...new Set(hashes)].sort()], '1 hashes') // sorted: see byKey
    })
  }

  async entry(documentId: string): Promise<DocEntry | undefined> {
    const rows = await this.#pool.query<{ entry: DocEntry }>('SELECT entry FROM parley_registry_entries WHERE document_id = $1', [documentId])
    return rows[0]?.entry
  }

  setEntry(documentId: string, entry: DocEntry): Promise<void> {
    return this.#entries.add([[documentId, entry]])
  }

  async actorOwner(actor: string): Promise<string | undefined> {
    const rows = await this.#pool.query<{ owner: string }>('SELECT owner FROM parley_actor_owners WHERE actor = $1', [actor])
    return rows[0]?.owner
  }

  async bindActor(actor: string, user: string): Promise<string> {
    // DO UPDATE to itself, not DO NOTHING: RETURNING then answers the row that was there.
    const rows = await this.#pool.query<{ owner: string }>(
      'INSERT INTO parley_actor_owners (actor, owner) VALUES ($1, $2) ON CONFLICT (actor) DO UPDATE SET owner = parley_actor_owners.owner RETURNING owner',
      [actor, user],
    )
    return rows[0]!.owner
  }

  accept(hashes: readonly string[]): Promise<void> {
    return this.#accepted.add(hashes)
  }

  /** Resolves once every write made so far has settled. */
  async flushed(): Promise<void> {
    await Promise.all([this.#entries.idle(), this.#accepted.idle()])
  }

  async wasAccepted(hash: string): Promise<boolean> {
    return (await this.#pool.query('SELECT 1 FROM parley_accepted_changes WHERE hash = $1', [hash])).length > 0
  }
}

/**
 * Rows in key order: two nodes writing overlapping rows in one statement each then lock
 * them in the same order, so neither waits on the other in a circle (a deadlock PostgreSQL
 * would break by failing one of the writes).
 */
function byKey([a]: [string, unknown], [b]: [string, unknown]): number {
  return a < b ? -1 : a > b ? 1 : 0
}
