/**
 * What the server knows about blobs besides their bytes, in LevelDB under
 * `<data>/blobs/ledger`: which conversations reference each blob (from their accepted
 * `attachment` events: who may download it), who uploaded it, and each user's bytes
 * stored and reserved by open uploads (the quota). Keys are parts joined by NUL, so a
 * user or conversation ID cannot reach into another's keys.
 */
import { Level } from 'level'

const SEP = '\u0000'
/** Conversations read per download check: a blob referenced more widely is still found in the first ones its reader belongs to, in practice. */
export const MAX_REFERENCES_READ = 1000
/** Uploads one user may have open at once: each holds a staging file and a reservation. */
export const MAX_OPEN_UPLOADS = 32

const key = (...parts: string[]): string => parts.join(SEP)
/** Every key under `parts`, as a LevelDB range: after `parts` and a NUL, before `parts` and a \u0001 (the next character after NUL). */
const under = (...parts: string[]) => ({ gt: key(...parts) + SEP, lt: `${key(...parts)}\u0001` })

export interface Usage {
  /** Bytes of distinct blobs the user uploaded. */
  stored: number
  /** Bytes declared by the user's open uploads. */
  reserved: number
  /** Open uploads. */
  open: number
}

export type Reservation = { ok: true } | { ok: false; reason: 'quota' | 'uploads'; usage: Usage }

export class BlobLedger {
  readonly #db: Level<string, number>
  /** Quota changes per user run one after another (read, check, write). Bounded by the requests in flight. */
  readonly #queues = new Map<string, Promise<unknown>>()

  private constructor(db: Level<string, number>) {
    this.#db = db
  }

  static async open(directory: string): Promise<BlobLedger> {
    const db = new Level<string, number>(directory, { valueEncoding: 'json' })
    await db.open()
    return new BlobLedger(db)
  }

  async addReferences(conversationId: string, hashes: Iterable<string>): Promise<void> {
    await this.#db.batch([...hashes].map(hash => ({ type: 'put' as const, key: key('ref', hash, conversationId), value: 1 })))
  }

  /** Conversations whose events reference the blob, at most MAX_REFERENCES_READ. */
  async referencing(hash: string): Promise<string[]> {
    const conversations: string[] = []
    for await (const ref of this.#db.keys({ ...under('ref', hash), limit: MAX_REFERENCES_READ })) conversations.push(ref.slice(ref.lastIndexOf(SEP) + 1))
    return conversations
  }

  async references(hash: string, conversationId: string): Promise<boolean> {
    return (await this.#db.get(key('ref', hash, conversationId))) !== undefined
  }

  async isUploader(hash: string, user: string): Promise<boolean> {
    return (await this.#db.get(key('own', hash, user))) !== undefined
  }

  async usage(user: string): Promise<Usage> {
    const stored = (await this.#db.get(key('use', user))) ?? 0
    let reserved = 0
    let open = 0
    for await (const size of this.#db.values(under('res', user))) {
      reserved += size
      open++
    }
    return { stored, reserved, open }
  }

  /** Every open upload's reservation. */
  async *reservations(): AsyncGenerator<{ user: string; uploadId: string }> {
    for await (const entry of this.#db.keys(under('res'))) {
      const [, user, uploadId] = entry.split(SEP)
      if (user !== undefined && uploadId !== undefined) yield { user, uploadId }
    }
  }

  /** Reserves `size` bytes of the user's quota for an upload, unless that would pass `quota` or MAX_OPEN_UPLOADS. */
  reserve(user: string, uploadId: string, size: number, quota: number): Promise<Reservation> {
    return this.#serial(user, async () => {
      const usage = await this.usage(user)
      if (usage.open >= MAX_OPEN_UPLOADS) return { ok: false, reason: 'uploads', usage }
      if (usage.stored + usage.reserved + size > quota) return { ok: false, reason: 'quota', usage }
      await this.#db.put(key('res', user, uploadId), size)
      return { ok: true }
    })
  }

  /** Gives back an upload's reservation (it failed, or was cancelled). */
  release(user: string, uploadId: string): Promise<void> {
    return this.#serial(user, () => this.#db.del(key('res', user, uploadId)))
  }

  /** An upload finished as `hash`: its reservation becomes stored bytes, once per distinct blob per user. */
  settle(user: string, uploadId: string, hash: string, size: number): Promise<void> {
    return this.#serial(user, async () => {
      const owned = await this.isUploader(hash, user)
      const stored = (await this.#db.get(key('use', user))) ?? 0
      await this.#db.batch([
        { type: 'del', key: key('res', user, uploadId) },
        ...(owned ? [] : [{ type: 'put' as const, key: key('own', hash, user), value: 1 }, { type: 'put' as const, key: key('use', user), value: stored + size }]),
      ])
    })
  }

  #serial<T>(user: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(user) ?? Promise.resolve()
    const next = previous.then(work, work)
    const tail = next.catch(() => undefined)
    this.#queues.set(user, tail)
    void tail.then(() => {
      if (this.#queues.get(user) === tail) this.#queues.delete(user)
    })
    return next
  }

  close(): Promise<void> {
    return this.#db.close()
  }
}
