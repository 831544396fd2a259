/**
 * Where the search index lives: in the replica's own storage adapter (LevelDB in Node,
 * IndexedDB in a browser, a custom adapter), under `['parley-search', …]` keys that
 * automerge-repo never reads. Not with memory storage: nothing reads that adapter back,
 * so the index stays in memory (search-index.ts).
 *
 * Each shard (shard.ts) is stored gzipped under its own key, with one small record
 * beside them (the heads of each indexed segment, edits waiting for their message,
 * deleted IDs), and a journal of the batches indexed since the shards were last written.
 * A batch costs one small write; once the journal passes JOURNAL_BYTES, the shards it
 * changed (usually only the newest) and the record are written and the journal dropped,
 * so what is written per message does not grow with the index (docs/search.md). A start
 * loads the shards and replays the journal: nothing is read from the segments.
 */
import type { StorageAdapterInterface } from '@automerge/automerge-repo/slim'
import type { ParleyEvent } from '@parley/core'
import { gunzip, gzip } from './gzip.ts'
import type { IndexMeta } from './message-index.ts'
import type { ShardState } from './shard.ts'

const PREFIX = 'parley-search'
const META = [PREFIX, 'meta']
const SHARDS = [PREFIX, 'shard']
const JOURNAL = [PREFIX, 'journal']
/** Bumped when the stored shape changes: an older index is then ignored and rebuilt as segments load. */
const VERSION = 2
/** Journal bytes that make the next write fold it into the shards. */
const JOURNAL_BYTES = 256 * 1024

/** One journal entry: events indexed together, and the heads each segment was indexed up to. */
export interface Batch {
  events: [conversation: string, event: ParleyEvent][]
  heads: [segment: string, heads: string[]][]
}

export interface Meta extends IndexMeta {
  version: number
  /** The last journal entry folded into the stored shards. */
  seq: number
  shards: number
  heads: [segment: string, heads: string[]][]
}

export interface Loaded {
  meta: Meta | undefined
  shards: ShardState[]
  batches: Batch[]
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const pad = (n: number) => n.toString().padStart(12, '0')

export class IndexStore {
  readonly #storage: StorageAdapterInterface
  #seq = 0
  /** Journal entries written since the shards, and their bytes. */
  readonly #journal: number[] = []
  #journalBytes = 0
  readonly #shardBytes: number[] = []
  #metaBytes = 0

  constructor(storage: StorageAdapterInterface) {
    this.#storage = storage
  }

  /** The stored index; an empty one if there is none, or it cannot be read (then it is rebuilt as segments load). */
  async load(): Promise<Loaded> {
    try {
      return await this.#load()
    } catch {
      await this.#storage.removeRange([PREFIX])
      this.#journal.length = 0
      this.#journalBytes = 0
      this.#shardBytes.length = 0
      this.#metaBytes = 0
      return { meta: undefined, shards: [], batches: [] }
    }
  }

  async #load(): Promise<Loaded> {
    const bytes = await this.#storage.load(META)
    const stored = bytes ? (JSON.parse(decoder.decode(bytes)) as Meta) : undefined
    const meta = stored?.version === VERSION ? stored : undefined
    if (stored && !meta) await this.#storage.removeRange([PREFIX]) // another version's: rebuilt as segments load
    this.#metaBytes = meta ? bytes!.byteLength : 0
    this.#seq = meta?.seq ?? 0
    const shards: ShardState[] = []
    for (let i = 0; i < (meta?.shards ?? 0); i++) {
      const data = await this.#storage.load([...SHARDS, pad(i)])
      if (!data) throw new Error(`search index shard ${i} is missing`)
      shards.push(JSON.parse(await gunzip(data)) as ShardState)
      this.#shardBytes[i] = data.byteLength
    }
    const entries = (await this.#storage.loadRange(JOURNAL)).map(({ key, data }) => ({ seq: Number(key[2]), data })).sort((a, b) => a.seq - b.seq)
    const batches: Batch[] = []
    for (const { seq, data } of entries) {
      if (!data) continue
      this.#seq = Math.max(this.#seq, seq)
      if (seq <= (meta?.seq ?? 0)) {
        await this.#storage.remove([...JOURNAL, pad(seq)]) // folded in before a crash cut the cleanup short
        continue
      }
      batches.push(JSON.parse(decoder.decode(data)) as Batch)
      this.#journal.push(seq)
      this.#journalBytes += data.byteLength
    }
    return { meta, shards, batches }
  }

  /** Appends one batch to the journal; returns whether it is time to write the shards. */
  async append(batch: Batch): Promise<boolean> {
    const data = encoder.encode(JSON.stringify(batch))
    const seq = ++this.#seq
    await this.#storage.save([...JOURNAL, pad(seq)], data)
    this.#journal.push(seq)
    this.#journalBytes += data.byteLength
    return this.#journalBytes >= JOURNAL_BYTES
  }

  /**
   * Writes the changed shards, then the record that counts them and the journal entries
   * they include, then drops those entries. A crash in between replays entries the shards
   * already hold, which changes nothing (message-index.ts).
   */
  async write(changed: [number, ShardState][], meta: Omit<Meta, 'version' | 'seq'>): Promise<void> {
    const folded = [...this.#journal]
    for (const [i, shard] of changed) {
      const data = await gzip(JSON.stringify(shard))
      await this.#storage.save([...SHARDS, pad(i)], data)
      this.#shardBytes[i] = data.byteLength
    }
    const data = encoder.encode(JSON.stringify({ version: VERSION, seq: this.#seq, ...meta } satisfies Meta))
    await this.#storage.save(META, data)
    this.#metaBytes = data.byteLength
    this.#journal.splice(0, folded.length)
    this.#journalBytes = 0
    for (const seq of folded) await this.#storage.remove([...JOURNAL, pad(seq)])
  }

  /** Bytes the index takes in storage, as last written. */
  get bytes(): number {
    return this.#metaBytes + this.#journalBytes + this.#shardBytes.reduce((sum, bytes) => sum + bytes, 0)
  }
}
