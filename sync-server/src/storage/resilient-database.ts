/**
 * The document database, kept writable through a full disk. LevelDB answers a failed
 * write (ENOSPC, EIO) with LEVEL_IO_ERROR, and worse: a record torn by the failure
 * leaves later records of the same log block unreadable, so writes that "succeed" after
 * it are silently dropped when the database is next opened (measured: see
 * docs/reliability.md). So after the first failed write nothing more is written to that
 * log. Writes are held in memory, in the order they were issued, and reads see them;
 * once a probe file fits on the disk again the database is closed and reopened (a fresh
 * log) and the held writes go in. Held writes are bounded: past `maxHeldBytes` a write
 * fails with the original error rather than growing memory.
 *
 * The server opens both of its databases through it (storage/databases.ts): the
 * documents with the event index, and the access registry. A registry entry dropped that
 * way would let a non-member read a conversation after a restart.
 *
 * Writes issued in one turn of the event loop, or while a write is out, go together in
 * the next, as one LevelDB batch, in the order issued (write-batch.ts): handing a write to
 * classic-level's thread pool costs the event loop tens of µs however small the write,
 * and wakes a pool thread, so a message's change and its numbering share one hand-over,
 * and the numbering of every busy conversation and the change logs one per round.
 */
import type { LevelDatabase } from '@parley/core'
import { unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { WriteBatch } from './write-batch.ts'

/** The slice of classic-level's API this wrapper drives. */
export interface ReopenableLevel {
  readonly status: string
  open(): Promise<void>
  close(): Promise<void>
  get(key: string): Promise<Uint8Array | undefined>
  /** classic-level's synchronous read: a few µs from LevelDB's memtable or cache, where `get` costs a thread-pool round trip. */
  getSync?(key: string): Uint8Array | undefined
  put(key: string, value: Uint8Array): Promise<void>
  del(key: string): Promise<void>
  batch(ops: WriteOp[]): Promise<void>
  clear(range: KeyRange): Promise<void>
  iterator(range: IteratorRange): AsyncIterable<[string, Uint8Array]> & { close(): Promise<void> }
}

/** Bounds on keys, as abstract-level takes them. */
export type KeyRange = { gt?: string; gte?: string; lt?: string; lte?: string }
/** Bounds, plus abstract-level's order and count. */
export type IteratorRange = KeyRange & { reverse?: boolean; limit?: number }
export type WriteOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string }
type Op = (WriteOp | { type: 'clear'; range: KeyRange }) & { seq: number }

export interface StorageStatus {
  /** False from the first failed write until every held write is on disk. */
  writable: boolean
  /** The failure, while not writable. */
  problem?: string
  /** When writes started failing (ms since the epoch). */
  since?: number
  heldWrites: number
  heldBytes: number
}

export interface ResilientDatabaseOptions {
  /** Directory the probe file is written to (the database's own). */
  dir: string
  /** How often to probe for space while failing. */
  retryMs: number
  /** Bytes of held writes beyond which writes fail instead of being held. */
  maxHeldBytes: number
  /** Size of the probe file that must fit before the database is reopened. */
  probeBytes?: number
  onFailure?: (error: Error) => void
  onRecovered?: (info: { writes: number; downMs: number }) => void
  /** A reopen or a replay of held writes failed; retried after `retryMs`. */
  onRetryFailed?: (error: Error) => void
}

const inRange = (key: string, { gt, gte, lt, lte }: KeyRange): boolean =>
  (gt === undefined || key > gt) && (gte === undefined || key >= gte) && (lt === undefined || key < lt) && (lte === undefined || key <= lte)
const sizeOf = (op: Op): number => (op.type === 'put' ? op.key.length + op.value.byteLength : 64)

export class ResilientDatabase implements LevelDatabase {
  readonly #db: ReopenableLevel
  readonly #options: ResilientDatabaseOptions
  #failure: Error | undefined
  #since = 0
  #epoch = 0
  #seq = 0
  #held: Op[] = []
  #heldBytes = 0
  #retry: ReturnType<typeof setTimeout> | undefined
  /** Resolves when no reopen is under way; reads wait on it. */
  #idle: Promise<void> = Promise.resolve()
  /** Reopens queued or under way (#recover); reads wait for them. */
  #reopens = 0
  #closed = false
  readonly #writes = new WriteBatch<Op>(ops => this.#write(ops), { endOfTurn: true })

  constructor(db: ReopenableLevel, options: ResilientDatabaseOptions) {
    this.#db = db
    this.#options = options
  }

  status(): StorageStatus {
    return {
      writable: this.#failure === undefined,
      ...(this.#failure && { problem: this.#failure.message, since: this.#since }),
      heldWrites: this.#held.length,
      heldBytes: this.#heldBytes,
    }
  }

  /**
   * Reads synchronously when the database is open and no reopen is under way: the
   * registry and the event index look keys up on every message, and classic-level's
   * asynchronous get costs 35–85 µs of CPU (a thread-pool round trip) where getSync costs
   * ~2 µs (sync-server/test/measure/level-reads.ts). LevelDB serves these small keys from
   * its memtable or block cache.
   */
  async get(key: string): Promise<Uint8Array | undefined> {
    const held = this.#heldValue(key)
    if (held) return held.value
    if (this.#reopens === 0 && this.#db.getSync && this.#db.status === 'open') return this.#db.getSync(key)
    await this.#idle
    return this.#db.get(key)
  }

  put(key: string, value: Uint8Array): Promise<void> {
    return this.#writes.add([{ type: 'put', key, value, seq: ++this.#seq }])
  }

  del(key: string): Promise<void> {
    return this.#writes.add([{ type: 'del', key, seq: ++this.#seq }])
  }

  clear(range: KeyRange): Promise<void> {
    return this.#writes.add([{ type: 'clear', range, seq: ++this.#seq }])
  }

  /** Atomic while the disk takes writes (with the writes it goes out with); held writes are replayed in one batch too. */
  batch(ops: WriteOp[]): Promise<void> {
    return this.#writes.add(ops.map(op => ({ ...op, seq: ++this.#seq })))
  }

  iterator(range: IteratorRange): AsyncIterable<[string, Uint8Array]> & { close(): Promise<void> } {
    const entries = this.#entries(range)
    return Object.assign(entries, { close: async () => void (await entries.return(undefined)) })
  }

  /** Stops retrying; makes one last attempt to write what is held, then closes. */
  async close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#retry)
    await this.#writes.idle()
    if (this.#held.length > 0) await this.#recover().catch(() => undefined)
    if (this.#db.status === 'open') await this.#db.close()
  }

  async *#entries(range: IteratorRange): AsyncGenerator<[string, Uint8Array]> {
    await this.#idle
    const held = this.#held.filter(op => (op.type === 'clear' ? true : inRange(op.key, range)))
    if (held.length === 0) {
      yield* this.#db.iterator(range)
      return
    }
    // Overlay the held writes on what is on disk, in the order LevelDB gives, then count.
    const { limit, reverse, ...bounds } = range
    const merged = new Map<string, Uint8Array>()
    for await (const [key, value] of this.#db.iterator(bounds)) merged.set(key, value)
    for (const op of held) {
      if (op.type === 'put') merged.set(op.key, op.value)
      else if (op.type === 'del') merged.delete(op.key)
      else for (const key of [...merged.keys()]) if (inRange(key, op.range)) merged.delete(key)
    }
    const entries = [...merged.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    if (reverse) entries.reverse()
    yield* limit === undefined || limit < 0 ? entries : entries.slice(0, limit)
  }

  /** The newest held write touching `key`: `{ value }` (undefined when deleted), or undefined when none. */
  #heldValue(key: string): { value: Uint8Array | undefined } | undefined {
    for (let i = this.#held.length - 1; i >= 0; i--) {
      const op = this.#held[i]!
      if (op.type === 'put' && op.key === key) return { value: op.value }
      if (op.type === 'del' && op.key === key) return { value: undefined }
      if (op.type === 'clear' && inRange(key, op.range)) return { value: undefined }
    }
    return undefined
  }

  async #write(ops: Op[]): Promise<void> {
    if (ops.length === 0) return
    if (this.#failure) return this.#hold(ops)
    const epoch = this.#epoch
    try {
      await this.#apply(ops)
    } catch (error) {
      if (this.#closed) throw error
      this.#fail(error as Error)
      return this.#hold(ops)
    }
    // Completed after another write failed: it may sit behind the torn record and be
    // dropped when the log is next read. Written again after the reopen.
    if (this.#epoch !== epoch) this.#hold(ops)
  }

  #apply(ops: Op[]): Promise<void> {
    const op = ops[0]!
    // A LevelDB batch holds no range deletion: cut there, in order.
    if (ops.some(({ type }) => type === 'clear')) return this.#replay(ops)
    if (ops.length > 1) return this.#db.batch(ops.map(({ seq, ...write }) => write as WriteOp))
    return op.type === 'put' ? this.#db.put(op.key, op.value) : this.#db.del((op as WriteOp).key)
  }

  /** Holds all of `ops` or, past `maxHeldBytes`, none (throwing the failure). */
  #hold(ops: Op[]): void {
    const bytes = ops.reduce((sum, op) => sum + sizeOf(op), 0)
    if (this.#heldBytes + bytes > this.#options.maxHeldBytes) throw this.#failure!
    for (const op of ops) {
      // In the order issued: a late completion goes before what was issued after it.
      let at = this.#held.length
      while (at > 0 && this.#held[at - 1]!.seq > op.seq) at--
      this.#held.splice(at, 0, op)
    }
    this.#heldBytes += bytes
  }

  #fail(error: Error): void {
    this.#epoch++
    if (this.#failure) return
    this.#failure = error
    this.#since = Date.now()
    this.#options.onFailure?.(error)
    this.#schedule()
  }

  #schedule(): void {
    if (this.#closed) return
    clearTimeout(this.#retry)
    this.#retry = setTimeout(() => void this.#attempt(), this.#options.retryMs)
    this.#retry.unref()
  }

  async #attempt(): Promise<void> {
    try {
      if (await this.#spaceIsBack()) await this.#recover()
    } catch (error) {
      this.#options.onRetryFailed?.(error as Error)
    }
    if (this.#failure) this.#schedule()
  }

  async #spaceIsBack(): Promise<boolean> {
    const probe = join(this.#options.dir, 'space-probe')
    try {
      await writeFile(probe, new Uint8Array(this.#options.probeBytes ?? 1024 * 1024))
      return true
    } catch {
      return false
    } finally {
      await unlink(probe).catch(() => undefined)
    }
  }

  /** Reopens the database (a fresh log) and writes everything held, oldest first. */
  async #recover(): Promise<void> {
    let release!: () => void
    const previous = this.#idle
    this.#idle = new Promise(resolve => (release = resolve))
    this.#reopens++
    await previous
    try {
      if (this.#db.status === 'open') await this.#db.close()
      await this.#db.open()
      let writes = 0
      while (this.#held.length > 0) {
        const ops = this.#held.slice()
        await this.#replay(ops)
        writes += ops.length
        this.#held.splice(0, ops.length)
        this.#heldBytes = this.#held.reduce((sum, op) => sum + sizeOf(op), 0)
      }
      const downMs = Date.now() - this.#since
      const failed = this.#failure
      this.#failure = undefined
      if (failed) this.#options.onRecovered?.({ writes, downMs })
    } finally {
      this.#reopens--
      release()
    }
  }

  async #replay(ops: Op[]): Promise<void> {
    let batch: WriteOp[] = []
    for (const op of ops) {
      if (op.type !== 'clear') {
        batch.push(op.type === 'put' ? { type: 'put', key: op.key, value: op.value } : { type: 'del', key: op.key })
        continue
      }
      if (batch.length > 0) await this.#db.batch(batch)
      batch = []
      await this.#db.clear(op.range)
    }
    if (batch.length > 0) await this.#db.batch(batch)
  }
}
