/**
 * Where the search index lives: in the replica's own storage adapter (LevelDB in Node,
 * IndexedDB in a browser, memory for memory storage), under `['parley-search', …]` keys
 * that automerge-repo never reads.
 *
 * A snapshot (the whole index as MiniSearch's JSON, with the heads of each segment it
 * covers) and a journal of the batches indexed since. Each batch costs one small write;
 * the snapshot is rewritten only once the journal has grown past a fraction of it, so the
 * bytes written per message do not grow with the index (docs/search.md, "Persistence").
 * A start loads the snapshot and replays the journal: nothing is read from the segments.
 */
import type { StorageAdapterInterface } from '@automerge/automerge-repo/slim'
import type { ParleyEvent } from '@parley/core'
import type { MessageIndexState } from './message-index.ts'

const PREFIX = 'parley-search'
const SNAPSHOT = [PREFIX, 'snapshot']
const JOURNAL = [PREFIX, 'journal']
/** Bumped when the stored shape changes: an older snapshot is then ignored and the index rebuilt as segments load. */
const VERSION = 1
/** The journal is folded into a new snapshot once it holds this share of the snapshot's bytes … */
const COMPACT_RATIO = 0.25
/** … and at least this many bytes (a small index is not rewritten for every few messages). */
const COMPACT_MIN_BYTES = 256 * 1024

/** One journal entry: events indexed together, and the heads each segment was indexed up to. */
export interface Batch {
  events: [conversation: string, event: ParleyEvent][]
  heads: [segment: string, heads: string[]][]
}

export interface Snapshot {
  version: number
  /** The last journal entry folded into this snapshot. */
  seq: number
  heads: [segment: string, heads: string[]][]
  state: MessageIndexState
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

function journalKey(seq: number): string[] {
  return [...JOURNAL, seq.toString().padStart(12, '0')]
}

export class IndexStore {
  readonly #storage: StorageAdapterInterface
  #seq = 0
  /** Journal entries written since the snapshot, and their bytes. */
  readonly #journal: number[] = []
  #journalBytes = 0
  #snapshotBytes = 0

  constructor(storage: StorageAdapterInterface) {
    this.#storage = storage
  }

  /** The snapshot and the journal entries written after it, oldest first. */
  async load(): Promise<{ snapshot: Snapshot | undefined; batches: Batch[] }> {
    const bytes = await this.#storage.load(SNAPSHOT)
    let snapshot = bytes ? (JSON.parse(decoder.decode(bytes)) as Snapshot) : undefined
    if (snapshot?.version !== VERSION) snapshot = undefined
    this.#snapshotBytes = bytes?.byteLength ?? 0
    this.#seq = snapshot?.seq ?? 0
    const entries = (await this.#storage.loadRange(JOURNAL))
      .map(({ key, data }) => ({ seq: Number(key[2]), data }))
      .sort((a, b) => a.seq - b.seq)
    const batches: Batch[] = []
    for (const { seq, data } of entries) {
      if (!data) continue
      this.#seq = Math.max(this.#seq, seq)
      if (snapshot && seq <= snapshot.seq) {
        await this.#storage.remove(journalKey(seq)) // folded in before a crash cut the cleanup short
        continue
      }
      if (!snapshot && bytes) continue // written against a snapshot of another version
      batches.push(JSON.parse(decoder.decode(data)) as Batch)
      this.#journal.push(seq)
      this.#journalBytes += data.byteLength
    }
    return { snapshot, batches }
  }

  /** Appends one batch to the journal; returns whether it is time to compact. */
  async append(batch: Batch): Promise<boolean> {
    const data = encoder.encode(JSON.stringify(batch))
    const seq = ++this.#seq
    await this.#storage.save(journalKey(seq), data)
    this.#journal.push(seq)
    this.#journalBytes += data.byteLength
    return this.#journalBytes >= Math.max(COMPACT_MIN_BYTES, this.#snapshotBytes * COMPACT_RATIO)
  }

  /** Writes a snapshot that includes every batch appended so far, then drops those batches. */
  async compact(snapshot: Omit<Snapshot, 'version' | 'seq'>): Promise<void> {
    const folded = [...this.#journal]
    const data = encoder.encode(JSON.stringify({ version: VERSION, seq: this.#seq, ...snapshot } satisfies Snapshot))
    await this.#storage.save(SNAPSHOT, data)
    this.#snapshotBytes = data.byteLength
    this.#journal.splice(0, folded.length)
    this.#journalBytes = 0
    for (const seq of folded) await this.#storage.remove(journalKey(seq))
  }

  /** Bytes the index takes in storage (snapshot and journal). */
  get bytes(): number {
    return this.#snapshotBytes + this.#journalBytes
  }
}
