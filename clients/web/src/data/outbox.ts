/**
 * Which of this device's messages have reached the server. A message is "saved on this
 * device" from the moment `send` resolves (it is in IndexedDB) until a `client.sync()`
 * that began after it resolves: sync resolves only once the server holds everything this
 * device has. The IDs are kept in localStorage, so a reload (offline too) still shows
 * which messages have not gone out yet.
 *
 * Between the Enter and the save, the message is shown but only in memory: a reload (or a
 * closed tab) then would lose it, as IndexedDB drops a write the page did not live to
 * finish. So its text is kept in localStorage, written at once, until the save finishes;
 * the next start sends any text whose message is not in its conversation (`recover`).
 */
import type { ParleyClient } from '@parley/client'

/** A message's text and conversation, kept until the message is saved on this device. */
export interface Draft {
  conversation: string
  text: string
}

const SYNC_TIMEOUT_MS = 15_000
const RETRY_MS = 2_000

export class Outbox {
  readonly #client: ParleyClient
  readonly #key: string
  readonly #draftsKey: string
  readonly #pending: Set<string>
  /** Texts of messages shown but not saved yet, by message ID. */
  readonly #drafts: Map<string, Draft>
  readonly #listeners = new Set<() => void>()
  #running = false
  #again = false
  #retry: ReturnType<typeof setTimeout> | undefined
  #closed = false

  constructor(client: ParleyClient) {
    this.#client = client
    this.#key = `parley.outbox.${client.user}`
    this.#draftsKey = `parley.outbox.${client.user}.drafts`
    this.#pending = new Set(this.#read())
    this.#drafts = new Map(this.#readDrafts())
    client.on('status', this.#onStatus)
    void this.#confirm()
  }

  /** Whether the message was written here and the server has not confirmed it yet. */
  has(id: string): boolean {
    return this.#pending.has(id)
  }

  get size(): number {
    return this.#pending.size
  }

  /**
   * Records a message as unsent the moment it has an ID, before it is saved, with its text
   * when it is a message (written again on the next start if the save never finished);
   * `add` it once saved.
   */
  hold(id: string, draft?: Draft): void {
    this.#pending.add(id)
    if (draft) this.#setDraft(id, draft)
    this.#changed()
  }

  /** A message whose send failed (the composer gives its text back): neither unsent nor to be sent again. */
  drop(id: string): void {
    this.#setDraft(id, undefined)
    this.#pending.delete(id)
    this.#changed()
  }

  /** A saved message: unsent until a sync that begins now resolves. */
  add(id: string): void {
    this.#setDraft(id, undefined)
    this.hold(id)
    void this.#confirm()
  }

  /**
   * Sends again each message whose save a reload cut short: its text is here, its ID in no
   * conversation. A message that was saved after all is only taken off the drafts.
   */
  async recover(): Promise<void> {
    for (const [id, draft] of [...this.#drafts]) {
      let resent: string | undefined
      try {
        const conversation = await this.#client.conversation(draft.conversation)
        if (conversation.timeline().some(item => item.id === id)) {
          this.#setDraft(id, undefined)
          continue
        }
        this.#pending.delete(id)
        // The draft moves to the new ID in one write: a reload at any point leaves one copy.
        const onId = (sent: string) => {
          this.#drafts.delete(id)
          this.hold((resent = sent), draft)
        }
        this.add(await conversation.send(draft.text, { onId }))
      } catch {
        // Not sent now (the conversation did not open, or the save failed): the draft stays
        // for the next start, under whichever ID it has; that ID is not shown as unsent.
        if (resent !== undefined) this.#pending.delete(resent)
      }
    }
    this.#changed()
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener)
    return () => void this.#listeners.delete(listener)
  }

  close(): void {
    this.#closed = true
    clearTimeout(this.#retry)
    this.#client.off('status', this.#onStatus)
    this.#listeners.clear()
  }

  readonly #onStatus = (status: string): void => {
    if (status === 'online') void this.#confirm()
  }

  async #confirm(): Promise<void> {
    if (this.#closed || this.#pending.size === 0 || this.#client.status !== 'online') return
    if (this.#running) {
      this.#again = true
      return
    }
    this.#running = true
    clearTimeout(this.#retry)
    const sent = [...this.#pending]
    try {
      await withTimeout(this.#client.sync({ timeout: SYNC_TIMEOUT_MS }), SYNC_TIMEOUT_MS + 5_000)
      for (const id of sent) this.#pending.delete(id)
      this.#changed()
    } catch {
      // Offline again, or the server is slow: try again later (and at once when back online).
      if (!this.#closed) this.#retry = setTimeout(() => void this.#confirm(), RETRY_MS)
    } finally {
      this.#running = false
    }
    if (this.#again) {
      this.#again = false
      void this.#confirm()
    }
  }

  #read(): string[] {
    try {
      const ids = JSON.parse(localStorage.getItem(this.#key) ?? '[]') as unknown
      return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : []
    } catch {
      return []
    }
  }

  #readDrafts(): [string, Draft][] {
    try {
      const drafts = JSON.parse(localStorage.getItem(this.#draftsKey) ?? '{}') as unknown
      if (typeof drafts !== 'object' || drafts === null) return []
      return Object.entries(drafts).filter((entry): entry is [string, Draft] => typeof entry[1]?.conversation === 'string' && typeof entry[1]?.text === 'string')
    } catch {
      return []
    }
  }

  #setDraft(id: string, draft: Draft | undefined): void {
    if (draft) this.#drafts.set(id, draft)
    else if (!this.#drafts.delete(id)) return
    localStorage.setItem(this.#draftsKey, JSON.stringify(Object.fromEntries(this.#drafts)))
  }

  #changed(): void {
    localStorage.setItem(this.#key, JSON.stringify([...this.#pending]))
    for (const listener of [...this.#listeners]) listener()
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms)))
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
