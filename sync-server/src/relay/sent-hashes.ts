/**
 * The hashes of changes sent to a peer that it has not confirmed (peer-sync.ts
 * `PeerState.sentHashes`), as an immutable set that a new state extends without copying.
 *
 * Every forward to a peer adds a change to its set, and under load a peer confirms what it
 * received only every so often (clients hold their acknowledgements: clients/sdk/src/network/
 * acknowledgements.ts), so the set holds hundreds of hashes: copying it per forward was 5 %
 * of the server's CPU at 10,000 messages/s (`npm run bench:throughput -- --quick`). Here the
 * versions of one peer's set share one insertion-ordered map; a version sees the entries
 * inserted before it was made. Extending the newest version appends to the map; extending an
 * older one (a state the peer has moved past, which the hub never does) copies what it sees.
 * The empty set has no map, so no lineage ever writes into one every peer shares.
 */
export class SentHashes {
  static readonly EMPTY = new SentHashes(undefined, 0)

  /** Each hash with the order it was added in, shared by every version made from one another. */
  readonly #order: Map<string, number> | undefined
  readonly size: number

  private constructor(order: Map<string, number> | undefined, size: number) {
    this.#order = order
    this.size = size
  }

  static of(hashes: Iterable<string>): SentHashes {
    return SentHashes.EMPTY.with(hashes)
  }

  has(hash: string): boolean {
    const at = this.#order?.get(hash)
    return at !== undefined && at < this.size
  }

  /** This set and `hashes`. */
  with(hashes: Iterable<string>): SentHashes {
    let order = this.#order
    let size = this.size
    for (const hash of hashes) {
      const at = order?.get(hash)
      if (at !== undefined && at < size) continue
      // Only the newest version may append to the shared map; any other starts its own.
      if (order === undefined || (order === this.#order && size !== order.size)) order = this.#copy()
      order.set(hash, size++)
    }
    return size === this.size ? this : new SentHashes(order, size)
  }

  #copy(): Map<string, number> {
    const copy = new Map<string, number>()
    for (const [hash, at] of this.#order ?? []) if (at < this.size) copy.set(hash, at)
    return copy
  }
}
