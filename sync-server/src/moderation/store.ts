/**
 * The decisions operators list and reverse (moderation/routes.ts): one record per judged
 * message or edit, with the server's latest decision about it, in a LevelDB database under
 * the data directory (`moderation/`). The log holds the decisions themselves (`moderated`
 * events); this is the operators' index of them, so a list needs no scan of every
 * conversation. Each node of a cluster keeps the decisions it made (docs/moderation.md).
 */
import type { ModerationDecision } from '@parley/core'
import { Level } from 'level'

export interface ModerationRecord {
  conversationId: string
  /** The message decided about. */
  target: string
  /** The edit decided about, when the decision is about one edit of the message. */
  edit?: string
  /** The message's (or edit's) author. */
  author: string
  /** The judged text, cut to MAX_EXCERPT characters. */
  text: string
  decision: ModerationDecision
  reason: string
  /** What decided: the word list, the hook, the default while the hook was down, or an operator. */
  source: 'words' | 'hook' | 'default' | 'admin'
  /** The list's entry that matched (word-list decisions). */
  entry?: string
  /** The operator who decided (admin decisions). */
  by?: string
  /** The `moderated` event that carries the decision, and its number in the conversation. */
  eventId: string
  seq: number
  /** When the decision was made (server wall clock, ms). */
  decidedAt: number
}

/** Enough of a text for an operator to see what it was about; the whole is in the log. */
export const MAX_EXCERPT = 500

export const recordKey = (conversationId: string, target: string, edit?: string): string => JSON.stringify([conversationId, target, edit ?? ''])

export class ModerationStore {
  readonly #db: Level<string, ModerationRecord>

  constructor(dir: string) {
    this.#db = new Level<string, ModerationRecord>(dir, { valueEncoding: 'json' })
  }

  async open(): Promise<void> {
    await this.#db.open()
  }

  get(conversationId: string, target: string, edit?: string): Promise<ModerationRecord | undefined> {
    return this.#db.get(recordKey(conversationId, target, edit))
  }

  put(record: ModerationRecord): Promise<void> {
    return this.#db.put(recordKey(record.conversationId, record.target, record.edit), { ...record, text: record.text.slice(0, MAX_EXCERPT) })
  }

  /** At most `limit` records whose latest decision is one of `decisions`, in key order after the key `after`; `next` when more may follow. */
  async list(decisions: readonly ModerationDecision[], limit: number, after?: string): Promise<{ records: ModerationRecord[]; next?: string }> {
    const records: ModerationRecord[] = []
    for await (const record of this.#db.values(after === undefined ? {} : { gt: after })) {
      if (!decisions.includes(record.decision)) continue
      if (records.length === limit) {
        const last = records.at(-1)!
        return { records, next: recordKey(last.conversationId, last.target, last.edit) }
      }
      records.push(record)
    }
    return { records }
  }

  close(): Promise<void> {
    return this.#db.close()
  }
}
