/**
 * Persists change logs through automerge-repo's StorageAdapterInterface, in the key
 * layout of automerge-repo's StorageSubsystem, so a stock `Repo` on the same storage
 * loads every document and data written by today's server loads into a log:
 *
 *   [documentId, 'incremental', sha256-hex(bytes)]   change chunks, concatenated
 *   [documentId, 'snapshot', sha256-hex(utf8(sorted heads joined))]   a saved document
 *
 * Accepted changes are written at once, or, while a write is out, with the next one (one
 * incremental per document per write): a busy server writes whatever arrived meanwhile
 * together, an idle one adds no wait. `store` settles once its changes are stored, which
 * is what the sender's acknowledgement waits for (hub.ts). `compact` writes a snapshot
 * of a log and removes the chunks it covers, off the hot path.
 */
import { next as A } from '@automerge/automerge'
import type { StorageAdapterInterface, StorageKey } from '@automerge/automerge-repo'
import { hash } from 'node:crypto'
import { splitChunks } from './change-chunk.ts'
import { ChangeLog, type ChangeLogOptions, type LoggedChange } from './change-log.ts'
import { WriteBatch } from '../storage/write-batch.ts'

export interface LogStorageOptions {
  readonly log?: ChangeLogOptions
  /** After a failed write, how long until it is tried again (ms; doubled while it keeps failing, up to 30 s). */
  readonly retryMs?: number
  /** A write failed (its changes stay queued and the write is retried). */
  readonly onWriteError?: (error: unknown) => void
}

const MAX_RETRY_MS = 30_000

interface Queued {
  readonly documentId: string
  readonly change: LoggedChange
}

interface DocumentFiles {
  /** Keys whose chunks are all in the log: what a snapshot of the log replaces. */
  readonly covered: Map<string, { key: StorageKey; upTo: number; size: number }>
  snapshotBytes: number
  incrementalBytes: number
}

/** automerge-repo's keyHash: hex SHA-256 of the bytes. */
export function keyHash(bytes: Uint8Array): string {
  return hash('sha256', bytes)
}

/** automerge-repo's headsHash: keyHash of the heads' hex strings, UTF-8, concatenated. */
export function headsHash(heads: readonly string[]): string {
  return hash('sha256', heads.join(''))
}

export class LogStorage {
  readonly #adapter: StorageAdapterInterface
  readonly #logOptions: ChangeLogOptions
  /** Accepted changes on their way to storage (storage/write-batch.ts: at once, or with the next write while one is out). */
  readonly #batch = new WriteBatch<Queued>(items => this.#write(items))
  #failed: Queued[] = []
  readonly #files = new Map<string, DocumentFiles>()
  /** Per document, the tail of its chain of writes (flushes and compactions never overlap). */
  readonly #tails = new Map<string, Promise<void>>()
  readonly #options: LogStorageOptions
  /** The wait before the next retry; 0 while writes succeed. */
  #retryMs = 0

  constructor(adapter: StorageAdapterInterface, options: LogStorageOptions = {}) {
    this.#adapter = adapter
    this.#logOptions = options.log ?? {}
    this.#options = options
  }

  /**
   * Reads a document (snapshots, then incrementals, as automerge-repo does) into a new
   * log. Change chunks are read by their headers; a snapshot (a document chunk) is read
   * through Automerge once, here, on the cold path. Null when nothing is stored.
   */
  async load(documentId: string): Promise<ChangeLog | null> {
    await this.#tails.get(documentId)
    const snapshots = await this.#adapter.loadRange([documentId, 'snapshot'])
    const incrementals = await this.#adapter.loadRange([documentId, 'incremental'])
    const log = new ChangeLog(this.#logOptions)
    const files: DocumentFiles = { covered: new Map(), snapshotBytes: 0, incrementalBytes: 0 }
    let found = false
    for (const chunk of [...snapshots, ...incrementals]) {
      if (!chunk.data) continue
      found = true
      const isSnapshot = chunk.key[1] === 'snapshot'
      if (isSnapshot) files.snapshotBytes += chunk.data.length
      else files.incrementalBytes += chunk.data.length
      files.covered.set(chunk.key.join('\u0000'), { key: chunk.key, upTo: 0, size: chunk.data.length })
      for (const part of splitChunks(chunk.data)) {
        // A document chunk carries many changes in columns; Automerge reads it.
        log.append(part[8] === 0 ? A.getAllChanges(A.load(part)) : [part])
      }
    }
    if (!found) return null
    // Changes still waiting for deps are not in the log's concat: no snapshot may replace
    // the chunks they came from.
    if (log.pendingCount > 0) for (const file of files.covered.values()) file.upTo = Infinity
    this.#files.set(documentId, files)
    return log
  }

  /** Writes accepted changes of a document: at once, or with the next write if one is out. Settles once they are stored. */
  store(documentId: string, changes: readonly LoggedChange[]): Promise<void> {
    return this.#batch.add([...this.#takeFailed(), ...changes.map(change => ({ documentId, change }))])
  }

  /** Changes whose write failed: they go with the next write, or on their own after the retry wait (#write). */
  #takeFailed(): Queued[] {
    const failed = this.#failed
    this.#failed = []
    return failed
  }

  /** Resolves once every write so far has settled (a failed one is retried on its own: #write). */
  flush(): Promise<void> {
    return this.#batch.idle()
  }

  /**
   * One write: an incremental per document, each after that document's earlier writes and
   * compactions (#serial; other documents' do not hold it up). A write that fails (the
   * database unreachable) rejects its callers, so nothing is acknowledged as stored that
   * is not, and is tried again on its own, with a growing wait.
   */
  async #write(items: readonly Queued[]): Promise<void> {
    const byDocument = new Map<string, LoggedChange[]>()
    for (const { documentId, change } of items) {
      let changes = byDocument.get(documentId)
      if (!changes) byDocument.set(documentId, (changes = []))
      changes.push(change)
    }
    const failed = new Set<string>()
    let reason: unknown
    await Promise.all(
      [...byDocument].map(([documentId, changes]) =>
        this.#serial(documentId, () => this.#writeIncremental(documentId, changes)).catch(error => {
          failed.add(documentId)
          reason = error
        }),
      ),
    )
    if (failed.size === 0) {
      this.#retryMs = 0
      return
    }
    this.#options.onWriteError?.(reason)
    this.#retryMs = Math.min(MAX_RETRY_MS, this.#retryMs * 2 || (this.#options.retryMs ?? 1000))
    this.#failed.push(...items.filter(item => failed.has(item.documentId)))
    setTimeout(() => void this.#batch.add(this.#takeFailed()).catch(() => undefined), this.#retryMs).unref()
    throw reason
  }

  /** True when the document's incrementals outweigh its snapshot (automerge-repo's rule). */
  shouldCompact(documentId: string): boolean {
    const files = this.#files.get(documentId)
    if (!files) return false
    return files.incrementalBytes > 0 && (files.snapshotBytes < 1024 || files.incrementalBytes >= files.snapshotBytes)
  }

  /**
   * Writes a snapshot of the log (a saved document, as `Automerge.save` writes it) and
   * removes the chunks it covers. Costs a document load and save: run it when a
   * document goes idle, not per change.
   */
  async compact(documentId: string, log: ChangeLog): Promise<void> {
    await this.flush()
    await this.#serial(documentId, async () => {
      const upTo = log.size
      if (upTo === 0) return
      const heads = log.heads()
      const bytes = A.save(A.load(log.concat()))
      const key: StorageKey = [documentId, 'snapshot', headsHash(heads)]
      await this.#adapter.save(key, bytes)
      const files = this.#filesOf(documentId)
      const keyString = key.join('\u0000')
      for (const [name, file] of [...files.covered]) {
        if (name === keyString || file.upTo > upTo) continue
        await this.#adapter.remove(file.key)
        files.covered.delete(name)
      }
      files.covered.set(keyString, { key, upTo, size: bytes.length })
      files.snapshotBytes = 0
      files.incrementalBytes = 0
      for (const file of files.covered.values()) {
        if (file.key[1] === 'snapshot') files.snapshotBytes += file.size
        else files.incrementalBytes += file.size
      }
    })
  }

  /** Forgets what is known of a document's files (after it leaves memory). */
  forget(documentId: string): void {
    this.#files.delete(documentId)
  }

  async #writeIncremental(documentId: string, changes: readonly LoggedChange[]): Promise<void> {
    let length = 0
    for (const change of changes) length += change.bytes.length
    const bytes = new Uint8Array(length)
    let offset = 0
    let upTo = 0
    for (const change of changes) {
      bytes.set(change.bytes, offset)
      offset += change.bytes.length
      upTo = Math.max(upTo, change.index + 1)
    }
    const key: StorageKey = [documentId, 'incremental', keyHash(bytes)]
    await this.#adapter.save(key, bytes)
    const files = this.#filesOf(documentId)
    files.covered.set(key.join('\u0000'), { key, upTo, size: bytes.length })
    files.incrementalBytes += bytes.length
  }

  #filesOf(documentId: string): DocumentFiles {
    let files = this.#files.get(documentId)
    if (!files) this.#files.set(documentId, (files = { covered: new Map(), snapshotBytes: 0, incrementalBytes: 0 }))
    return files
  }

  #serial(documentId: string, task: () => Promise<void>): Promise<void> {
    const previous = this.#tails.get(documentId) ?? Promise.resolve()
    const next = previous.then(task)
    const tail = next.catch(() => undefined)
    this.#tails.set(documentId, tail)
    void tail.then(() => {
      if (this.#tails.get(documentId) === tail) this.#tails.delete(documentId)
    })
    return next
  }
}
