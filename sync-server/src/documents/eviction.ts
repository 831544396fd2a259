/**
 * Unloads documents nobody has used for a while, so the server's memory follows what
 * is active rather than everything ever opened. A document is used when a message about
 * it arrives or leaves; beyond `maxLoaded` loaded documents the least recently used go
 * first (once idle for `minIdleMs`), and any document idle for `idleMs` goes anyway.
 *
 * automerge-repo 2.5.6: `repo.removeFromCache` unloads the handle, which swaps its document
 * for an empty one and fires `heads-changed`; the repo's throttled save listens to that
 * and can write the empty document as a snapshot, deleting the real chunks (upstream
 * issue #435). So: flush first, give up if the document changed meanwhile, silence the
 * handle (every listener: the handle is discarded), and only then remove it. A change
 * that slips in during the removal is saved by hand. Loading it again later reads it
 * back from storage; the eviction test proves nothing is lost.
 *
 * Handles that never became ready go too (docs/reliability.md): automerge-repo creates
 * one for every document ID a client asks for, found or not, and keeps it for ever. A
 * handle nobody had ("unavailable", answered doc-unavailable) is dropped as soon as that
 * answer goes out; one still "requesting" after `requestTimeoutMs` unused (a client
 * claimed the document and never sent it) is given up and dropped. They hold no document,
 * so nothing is saved: `repo.removeUnavailable` (automerge-repo patch) drops them.
 */
import type { Doc } from '@automerge/automerge'
import type { DocHandle, DocumentId, Repo } from '@automerge/automerge-repo'

export interface EvictionOptions {
  /** Loaded documents beyond which the least recently used idle ones are unloaded (0: no cap). */
  maxLoaded: number
  /** A document unused this long is unloaded whatever the count (0: never by age). */
  idleMs: number
  /** A document used more recently than this is never unloaded, cap or not. */
  minIdleMs: number
  /** How often to look. */
  sweepMs: number
  /** A handle still waiting for a peer to send its document after this long unused is given up. */
  requestTimeoutMs: number
  /** Told about each unloaded document (watchers forget it) and each failure. */
  onEvicted?: (documentId: DocumentId) => void
  /** Told about each handle dropped because nobody had its document. */
  onDropped?: (documentId: DocumentId) => void
  onError?: (error: Error, documentId: DocumentId) => void
}

export class DocumentEvictor {
  readonly #repo: Repo
  readonly #options: EvictionOptions
  /** Last use per document; Map order is least recently used first. */
  readonly #lastUsed = new Map<DocumentId, number>()
  /** Evictions under way, each settling with whether the document went. */
  readonly #evicting = new Map<DocumentId, Promise<boolean>>()
  /** Documents the server is using (a write under way: hold), never unloaded meanwhile; counts. */
  readonly #held = new Map<DocumentId, number>()
  /** Documents just answered doc-unavailable, dropped together on the next turn of the loop. */
  readonly #unavailable = new Set<DocumentId>()
  #dropping: ReturnType<typeof setTimeout> | undefined
  #timer: ReturnType<typeof setInterval> | undefined
  #sweeping: Promise<number> | undefined
  #stopped = false
  #evicted = 0
  #dropped = 0

  constructor(repo: Repo, options: EvictionOptions) {
    this.#repo = repo
    this.#options = options
    const touch = (message: object): void => {
      const { documentId } = message as { documentId?: DocumentId }
      if (documentId) this.touch(documentId)
    }
    repo.networkSubsystem.on('message', touch)
    repo.synchronizer.on('message', touch)
    repo.synchronizer.on('message', message => {
      if (message.type !== 'doc-unavailable') return
      this.#unavailable.add(message.documentId)
      // The handle turns unavailable right after this message is emitted: drop it on the next turn.
      this.#dropping ??= setTimeout(() => this.#dropAnswered(), 0)
    })
  }

  /** Handles dropped because nobody had their document. */
  get dropped(): number {
    return this.#dropped
  }

  /** Documents unloaded so far. */
  get evicted(): number {
    return this.#evicted
  }

  start(): void {
    if (this.#timer || this.#options.sweepMs <= 0) return
    this.#stopped = false
    this.#timer = setInterval(() => void this.sweep(), this.#options.sweepMs)
    this.#timer.unref()
  }

  /** Stops sweeping; resolves once a sweep under way has finished the document it was on. */
  async stop(): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
    clearTimeout(this.#dropping)
    this.#dropping = undefined
    this.#stopped = true
    await this.#sweeping
  }

  touch(documentId: DocumentId, now = Date.now()): void {
    this.#lastUsed.delete(documentId)
    this.#lastUsed.set(documentId, now)
  }

  /** Unloads what is over the cap or past the idle time; resolves with how many. One sweep at a time. */
  sweep(now = Date.now()): Promise<number> {
    this.#sweeping ??= this.#sweep(now).finally(() => (this.#sweeping = undefined))
    return this.#sweeping
  }

  async #sweep(now: number): Promise<number> {
    const handles = this.#repo.handles
    // Forget documents the repo no longer holds; first sight of one counts as a use.
    for (const id of this.#lastUsed.keys()) if (!handles[id]) this.#lastUsed.delete(id)
    for (const id of Object.keys(handles) as DocumentId[]) if (!this.#lastUsed.has(id)) this.touch(id, now)
    const { maxLoaded, idleMs, minIdleMs, requestTimeoutMs } = this.#options
    let excess = maxLoaded > 0 ? Object.keys(handles).length - maxLoaded : 0
    // Handles without a document: unavailable ones at once, abandoned requests after their timeout.
    for (const [id, used] of this.#lastUsed) {
      const state = handles[id]?.state
      if (state === 'unavailable' || (state === 'requesting' && now - used >= requestTimeoutMs)) {
        if (this.drop(id)) excess--
      }
    }
    const victims: DocumentId[] = []
    for (const [id, used] of this.#lastUsed) {
      const idle = now - used
      if (idle < minIdleMs) break // everything after it was used more recently
      if (excess > 0 || (idleMs > 0 && idle >= idleMs)) {
        victims.push(id)
        excess--
      } else break
    }
    let count = 0
    for (const id of victims) {
      if (this.#stopped) break
      // Over the cap, a request nobody answered goes before a loaded document.
      if (this.#repo.handles[id]?.state === 'requesting' ? this.drop(id) : await this.evict(id)) count++
    }
    return count
  }

  /**
   * Drops the handle of a document nobody had: an unavailable one, or one still waiting
   * for a peer to send it (given up first). False for a handle that holds a document or
   * is still loading from storage. Synchronous: the document cannot arrive in between.
   */
  drop(documentId: DocumentId): boolean {
    const handle = this.#repo.handles[documentId]
    if (!handle || this.#evicting.has(documentId)) return false
    if (handle.state === 'requesting') handle.unavailable()
    if (!this.#repo.removeUnavailable(documentId)) return false
    this.#lastUsed.delete(documentId)
    this.#dropped++
    this.#options.onDropped?.(documentId)
    return true
  }

  #dropAnswered(): void {
    this.#dropping = undefined
    for (const id of this.#unavailable) if (this.#repo.handles[id]?.state === 'unavailable') this.drop(id)
    this.#unavailable.clear()
  }

  /**
   * Keeps a document loaded until the returned release is called: server code that reads
   * a handle across awaits (an HTTP write: conversations/service.ts; the inbox keeper)
   * holds it first, else an idle sweep could unload it in between ("DocHandle is not
   * ready"). Resolves once an eviction already under way has settled, so a handle looked
   * up after this is either loaded for good or gone (and is loaded again).
   */
  async hold(documentId: string): Promise<() => void> {
    const id = documentId as DocumentId
    this.#held.set(id, (this.#held.get(id) ?? 0) + 1)
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      const count = (this.#held.get(id) ?? 1) - 1
      if (count > 0) this.#held.set(id, count)
      else this.#held.delete(id)
      // Just used: idle from now, not from before the write.
      if (this.#repo.handles[id]) this.touch(id)
    }
    await this.#evicting.get(id)
    return release
  }

  /** Saves and unloads one document; false when it is not loaded, held, busy, or changed while saving. */
  evict(documentId: DocumentId): Promise<boolean> {
    const handle = this.#repo.handles[documentId] as DocHandle<unknown> | undefined
    if (!handle || !handle.isReady() || this.#evicting.has(documentId) || this.#held.has(documentId)) return Promise.resolve(false)
    const eviction = this.#evict(documentId, handle).finally(() => this.#evicting.delete(documentId))
    this.#evicting.set(documentId, eviction)
    return eviction
  }

  async #evict(documentId: DocumentId, handle: DocHandle<unknown>): Promise<boolean> {
    const started = this.#lastUsed.get(documentId)
    try {
      const heads = handle.heads()
      await this.#repo.flush([documentId])
      // Used, held or changed while saving: it is not idle after all.
      if (!handle.isReady() || this.#held.has(documentId) || this.#lastUsed.get(documentId) !== started || !sameHeads(handle.heads(), heads)) return false
      let late: Doc<unknown> | undefined
      handle.removeAllListeners()
      handle.on('heads-changed', ({ doc }) => {
        // The unload itself fires this with an empty document: only a real change counts.
        if (handle.isReady()) late = doc
      })
      await this.#repo.removeFromCache(documentId)
      if (late) await this.#repo.storageSubsystem?.saveDoc(documentId, late)
      // A message that raced the removal may have set up a synchronizer on the old
      // handle: drop it, so the next message loads the document afresh.
      if (this.#lastUsed.get(documentId) !== started && !this.#repo.handles[documentId]) this.#repo.synchronizer.removeDocument(documentId)
      else this.#lastUsed.delete(documentId)
      this.#evicted++
      this.#options.onEvicted?.(documentId)
      return true
    } catch (error) {
      this.#options.onError?.(error as Error, documentId)
      return false
    }
  }
}

function sameHeads(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((head, i) => head === b[i])
}
