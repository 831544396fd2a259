/**
 * The conversation list: every conversation the user belongs to (their inbox) or opened
 * on this device, each one opened so the list can show its name, last message and unread
 * count, newest activity first. One whose head is not on this device yet (offline, or
 * still syncing) is listed as loading and opened again when the client is back online.
 */
import type { Conversation, ParleyClient, TimelineItem } from '@parley/client'
import { conversationTitle } from './names.ts'

export interface ConversationRow {
  id: string
  title: string
  last?: TimelineItem
  unread: number
  /** False until the conversation's head is on this device. */
  ready: boolean
  /** The last message's time, else when the conversation was created: the list's order. */
  activity: number
}

export class Directory {
  readonly #client: ParleyClient
  readonly #rows = new Map<string, ConversationRow>()
  /** Conversations being opened or open (and subscribed to). */
  readonly #opening = new Set<string>()
  readonly #unsubscribe: (() => void)[] = []
  readonly #listeners = new Set<() => void>()
  #sorted: ConversationRow[] | undefined

  constructor(client: ParleyClient) {
    this.#client = client
    client.on('conversations', this.#refresh)
    client.on('status', this.#onStatus)
    this.#refresh()
  }

  rows(): ConversationRow[] {
    this.#sorted ??= [...this.#rows.values()].sort((a, b) => b.activity - a.activity || a.title.localeCompare(b.title))
    return this.#sorted
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener)
    return () => void this.#listeners.delete(listener)
  }

  close(): void {
    this.#client.off('conversations', this.#refresh)
    this.#client.off('status', this.#onStatus)
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe()
    this.#listeners.clear()
  }

  readonly #refresh = (): void => {
    for (const { id, title } of this.#client.conversations()) {
      if (!this.#rows.has(id)) this.#rows.set(id, { id, title: title || 'Loading…', unread: 0, ready: false, activity: 0 })
      this.#open(id)
    }
    this.#changed()
  }

  readonly #onStatus = (status: string): void => {
    if (status === 'online') this.#refresh()
  }

  #open(id: string): void {
    if (this.#opening.has(id)) return
    this.#opening.add(id)
    this.#client.conversation(id).then(
      conversation => {
        const update = (): void => {
          this.#rows.set(id, rowOf(conversation, this.#client.user))
          this.#changed()
        }
        const unsubscribe = conversation.subscribe(update)
        this.#unsubscribe.push(() => void unsubscribe())
      },
      // Not on this device and the server did not answer: tried again on the next refresh.
      () => this.#opening.delete(id),
    )
  }

  #changed(): void {
    this.#sorted = undefined
    for (const listener of [...this.#listeners]) listener()
  }
}

function rowOf(conversation: Conversation, me: string): ConversationRow {
  const head = conversation.head()
  const last = conversation.timeline().at(-1)
  return { id: conversation.id, title: conversationTitle(head, me), last, unread: conversation.unreadCount(), ready: true, activity: last?.at ?? head.createdAt }
}
