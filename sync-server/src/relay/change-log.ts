/**
 * One document's history as raw change chunks, with no Automerge document behind it.
 *
 * Changes are kept in the order they became causally ready, which is a topological
 * order: concatenated in that order they load with `Automerge.load` (a change log is a
 * valid document). A change whose deps are not all here waits in a bounded pending set
 * and joins the log once they arrive, as Automerge's own change queue does.
 */
import { entryChunks, parseChangeChunk, type ChangeMeta, type RejectReason } from './change-chunk.ts'

export interface LoggedChange extends ChangeMeta {
  readonly bytes: Uint8Array
  /** Position in the log (0-based); deps always have a lower index. */
  readonly index: number
}

export interface ChangeLogOptions {
  /** Changes held at most while their deps are missing (oldest dropped first). */
  readonly maxPendingChanges?: number
  /** Bytes held at most in pending changes. */
  readonly maxPendingBytes?: number
  /** Reads a chunk's header; parseChangeChunk unless a caller has decoded it already. */
  readonly parse?: (bytes: Uint8Array) => ChangeMeta
  /** Turns a document chunk into its change chunks (bounded by the caller). */
  readonly expandDocument?: (bytes: Uint8Array) => Uint8Array[]
}

export type { RejectReason }

export interface AppendResult {
  /** Changes that joined the log, in log order (the given ones and pending ones they freed). */
  readonly accepted: LoggedChange[]
  /** Hashes of given changes that now wait for missing deps. */
  readonly pending: string[]
  /** Given changes refused: not a change chunk, or a seq that Automerge would refuse. */
  readonly rejected: { readonly bytes: Uint8Array; readonly reason: RejectReason; readonly message: string }[]
  /** Pending changes dropped to stay within the bounds (the sync protocol asks again). */
  readonly dropped: string[]
}

interface Pending {
  readonly meta: ChangeMeta
  readonly bytes: Uint8Array
  readonly missing: Set<string>
}

const OURS = 1
const THEIRS = 2

export class ChangeLog {
  readonly #changes: LoggedChange[] = []
  readonly #byHash = new Map<string, LoggedChange>()
  readonly #heads = new Set<string>()
  #sortedHeads: readonly string[] | null = []
  /** Per actor, how many of its changes are in the log (Automerge's seq check). */
  readonly #actorSeq = new Map<string, number>()
  readonly #pending = new Map<string, Pending>()
  /** Missing dep hash → pending changes waiting for it. */
  readonly #waiting = new Map<string, Set<string>>()
  #pendingBytes = 0
  #bytes = 0
  readonly #maxPendingChanges: number
  readonly #maxPendingBytes: number
  readonly #parse: (bytes: Uint8Array) => ChangeMeta
  readonly #expandDocument: ((bytes: Uint8Array) => Uint8Array[]) | null

  constructor(options: ChangeLogOptions = {}) {
    this.#maxPendingChanges = options.maxPendingChanges ?? 1024
    this.#maxPendingBytes = options.maxPendingBytes ?? 16 * 1024 * 1024
    this.#parse = options.parse ?? parseChangeChunk
    this.#expandDocument = options.expandDocument ?? null
  }

  get size(): number {
    return this.#changes.length
  }

  /** Total bytes of the changes in the log. */
  get byteLength(): number {
    return this.#bytes
  }

  get pendingCount(): number {
    return this.#pending.size
  }

  /** The log's heads, sorted as Automerge sorts them. */
  heads(): readonly string[] {
    this.#sortedHeads ??= [...this.#heads].sort()
    return this.#sortedHeads
  }

  hasHash(hash: string): boolean {
    return this.#byHash.has(hash)
  }

  /** True when the change is in the log or waiting for its deps. */
  seen(hash: string): boolean {
    return this.#byHash.has(hash) || this.#pending.has(hash)
  }

  get(hash: string): LoggedChange | undefined {
    return this.#byHash.get(hash)
  }

  at(index: number): LoggedChange | undefined {
    return this.#changes[index]
  }

  changes(): readonly LoggedChange[] {
    return this.#changes
  }

  /**
   * Appends change chunks (an entry may hold several, concatenated); a hash already seen
   * is skipped (idempotent). `known`: headers a caller has read already (the ingress check
   * decoded every change it let through), by the entry holding that one chunk, so the chunk
   * is not hashed and read again.
   */
  append(entries: Iterable<Uint8Array>, known?: ReadonlyMap<Uint8Array, ChangeMeta>): AppendResult {
    const result: AppendResult = { accepted: [], pending: [], rejected: [], dropped: [] }
    for (const bytes of entryChunks(entries, this.#expandDocument, (bytes, reason, message) => result.rejected.push({ bytes, reason, message }))) {
      let meta: ChangeMeta
      try {
        meta = known?.get(bytes) ?? this.#parse(bytes)
      } catch (error) {
        result.rejected.push({ bytes, reason: 'malformed', message: (error as Error).message })
        continue
      }
      if (this.seen(meta.hash)) continue
      const missing = new Set(meta.deps.filter(dep => !this.#byHash.has(dep)))
      if (missing.size > 0) {
        this.#hold({ meta, bytes, missing }, result)
        continue
      }
      this.#admit(meta, bytes, result)
    }
    return result
  }

  /**
   * Deps that the log lacks: those of pending changes, and any of `heads` not in the
   * log, minus what is pending (Automerge's `getMissingDeps`). Sorted.
   */
  missingDeps(heads: readonly string[] = []): string[] {
    const missing = new Set<string>()
    for (const dep of this.#waiting.keys()) if (!this.#pending.has(dep)) missing.add(dep)
    for (const head of heads) if (!this.#byHash.has(head) && !this.#pending.has(head)) missing.add(head)
    return [...missing].sort()
  }

  /**
   * The changes that are not ancestors of (or in) `heads`, in log order: what a peer at
   * `heads` lacks. Unknown hashes in `heads` are ignored (they tell us nothing).
   *
   * Walks down from the log's heads in decreasing index, marking what is reachable from
   * ours and from theirs, and stops as soon as nothing reachable only from ours is left
   * unvisited: the cost follows the distance between the two sets of heads, not the length
   * of the history (a ladder of two alternating writers stays cheap).
   */
  changesSince(heads: readonly string[]): LoggedChange[] {
    // A peer in sync (every acknowledgement): nothing, without a walk.
    const ours = this.heads()
    if (heads.length === ours.length && heads.every((head, i) => head === ours[i])) return []
    const marks = new Map<number, number>()
    let oursOnly = 0
    let top = -1
    const mark = (index: number, flag: number): void => {
      const before = marks.get(index) ?? 0
      const after = before | flag
      if (after === before) return
      marks.set(index, after)
      if (before === OURS) oursOnly--
      if (after === OURS) oursOnly++
      if (index > top) top = index
    }
    for (const head of this.#heads) mark(this.#byHash.get(head)!.index, OURS)
    for (const head of heads) {
      const change = this.#byHash.get(head)
      if (change) mark(change.index, THEIRS)
    }
    const since: LoggedChange[] = []
    for (let index = top; index >= 0 && oursOnly > 0; index--) {
      const flags = marks.get(index)
      if (flags === undefined) continue
      marks.delete(index)
      const change = this.#changes[index]!
      if (flags === OURS) {
        oursOnly--
        since.push(change)
      }
      const propagate = flags === OURS ? OURS : THEIRS
      for (const dep of change.deps) mark(this.#byHash.get(dep)!.index, propagate)
    }
    return since.reverse()
  }

  /** The whole log as one document's bytes (change chunks in log order). */
  concat(from = 0): Uint8Array {
    let length = 0
    for (let i = from; i < this.#changes.length; i++) length += this.#changes[i]!.bytes.length
    const out = new Uint8Array(length)
    let offset = 0
    for (let i = from; i < this.#changes.length; i++) {
      const bytes = this.#changes[i]!.bytes
      out.set(bytes, offset)
      offset += bytes.length
    }
    return out
  }

  #admit(meta: ChangeMeta, bytes: Uint8Array, result: AppendResult): void {
    const queue: { meta: ChangeMeta; bytes: Uint8Array }[] = [{ meta, bytes }]
    while (queue.length > 0) {
      const next = queue.shift()!
      const seq = this.#actorSeq.get(next.meta.actor) ?? 0
      if (next.meta.seq !== seq + 1) {
        // Automerge refuses a change whose seq repeats one it has (DuplicateSeqNumber);
        // an honest writer's change always depends on its previous one, so its seq is
        // exactly one more than the actor's count once it is causally ready.
        result.rejected.push({ bytes: next.bytes, reason: 'seq', message: `actor ${next.meta.actor} seq ${next.meta.seq} after ${seq}` })
        this.#dropWaiters(next.meta.hash, result)
        continue
      }
      // Only the header's fields: `meta` may be a whole decoded change (the ingress check's), whose operations the log must not keep.
      const change: LoggedChange = { hash: next.meta.hash, deps: next.meta.deps, actor: next.meta.actor, seq: next.meta.seq, bytes: next.bytes, index: this.#changes.length }
      this.#changes.push(change)
      this.#byHash.set(change.hash, change)
      this.#actorSeq.set(change.actor, next.meta.seq)
      this.#bytes += next.bytes.length
      for (const dep of change.deps) this.#heads.delete(dep)
      this.#heads.add(change.hash)
      this.#sortedHeads = null
      result.accepted.push(change)
      const waiters = this.#waiting.get(change.hash)
      if (!waiters) continue
      this.#waiting.delete(change.hash)
      for (const hash of waiters) {
        const pending = this.#pending.get(hash)
        if (!pending) continue
        pending.missing.delete(change.hash)
        if (pending.missing.size === 0) {
          this.#unhold(hash)
          queue.push(pending)
        }
      }
    }
  }

  #hold(pending: Pending, result: AppendResult): void {
    this.#pending.set(pending.meta.hash, pending)
    this.#pendingBytes += pending.bytes.length
    for (const dep of pending.missing) {
      let waiters = this.#waiting.get(dep)
      if (!waiters) this.#waiting.set(dep, (waiters = new Set()))
      waiters.add(pending.meta.hash)
    }
    result.pending.push(pending.meta.hash)
    while (this.#pending.size > this.#maxPendingChanges || this.#pendingBytes > this.#maxPendingBytes) {
      const oldest = this.#pending.keys().next().value as string
      this.#unhold(oldest)
      result.dropped.push(oldest)
    }
  }

  #unhold(hash: string): void {
    const pending = this.#pending.get(hash)
    if (!pending) return
    this.#pending.delete(hash)
    this.#pendingBytes -= pending.bytes.length
    for (const dep of pending.missing) {
      const waiters = this.#waiting.get(dep)
      waiters?.delete(hash)
      if (waiters?.size === 0) this.#waiting.delete(dep)
    }
  }

  /** A rejected change can never become a dep: drop what waits on it, transitively. */
  #dropWaiters(hash: string, result: AppendResult): void {
    const waiters = this.#waiting.get(hash)
    if (!waiters) return
    this.#waiting.delete(hash)
    for (const waiter of [...waiters]) {
      if (!this.#pending.has(waiter)) continue
      this.#unhold(waiter)
      result.dropped.push(waiter)
      this.#dropWaiters(waiter, result)
    }
  }
}
