/**
 * Keeps every user's inbox document: the conversations they belong to, so a device
 * that was offline knows what to sync. Fed by the head watch (conversations/watch.ts): each member of
 * a conversation has it in their inbox; a removed member loses it.
 */
import type { DocHandle, DocumentId, Repo, StorageAdapterInterface } from '@automerge/automerge-repo'
import { addToInbox, inboxDocumentId, inboxGenesis, legacyInboxDocumentId, readInbox, removeFromInbox, type Head, type InboxDoc } from '@parley/core'
import type { FastifyBaseLogger } from 'fastify'
import type { AccessRegistry } from './access/registry.ts'

export class InboxKeeper {
  readonly #repo: Repo
  readonly #storage: StorageAdapterInterface
  readonly #registry: AccessRegistry
  readonly #log: FastifyBaseLogger
  readonly #inboxes = new Map<string, Promise<DocHandle<InboxDoc>>>()
  /** Keeps an inbox loaded while it is read or written across awaits (documents/eviction.ts DocumentEvictor.hold). */
  readonly #hold: ((documentId: string) => Promise<() => void>) | undefined

  constructor(repo: Repo, storage: StorageAdapterInterface, registry: AccessRegistry, log: FastifyBaseLogger, hold?: (documentId: string) => Promise<() => void>) {
    this.#repo = repo
    this.#storage = storage
    this.#registry = registry
    this.#log = log
    this.#hold = hold
  }

  /** The user's inbox as it is now. */
  read(user: string): Promise<InboxDoc> {
    return this.#withInbox(user, inbox => inbox.doc())
  }

  /** Runs `use` on the user's inbox, held loaded from before it is opened until `use` returns. */
  async #withInbox<T>(user: string, use: (inbox: DocHandle<InboxDoc>) => T): Promise<T> {
    const release = (await this.#hold?.(inboxDocumentId(user))) ?? (() => undefined)
    try {
      return use(await this.inbox(user))
    } finally {
      release()
    }
  }

  /** The user's inbox, loaded from storage or created from its deterministic genesis. */
  inbox(user: string): Promise<DocHandle<InboxDoc>> {
    let inbox = this.#inboxes.get(user)
    if (!inbox) {
      inbox = this.#open(user)
      this.#inboxes.set(user, inbox)
      // Only while opening: the repo may unload an idle inbox, and a map of every user
      // ever seen would only grow. Once open, the repo's own handle cache answers.
      const opened = inbox
      void inbox.finally(() => this.#inboxes.get(user) === opened && this.#inboxes.delete(user)).catch(() => undefined)
    }
    return inbox
  }

  /** Brings the inboxes of a conversation's members (and of members just removed) up to date. */
  async update(conversationId: string, head: Head, removed: string[]): Promise<void> {
    try {
      const members = Object.keys(head.members)
      const at = Date.now()
      for (const user of members) {
        await this.#withInbox(user, inbox => {
          if (!Object.hasOwn(inbox.doc().conversations, conversationId)) inbox.change(d => addToInbox(d, conversationId, at))
        })
      }
      for (const user of removed.filter(user => !members.includes(user))) {
        await this.#withInbox(user, inbox => {
          if (Object.hasOwn(inbox.doc().conversations, conversationId)) inbox.change(d => removeFromInbox(d, conversationId))
        })
      }
    } catch (error) {
      this.#log.warn({ err: error, conversationId }, 'could not update inboxes')
    }
  }

  async #open(user: string): Promise<DocHandle<InboxDoc>> {
    const id = inboxDocumentId(user) as DocumentId
    const cached = this.#repo.handles[id] as DocHandle<InboxDoc> | undefined
    if (cached?.isReady()) return cached
    // Straight to storage: repo.find would also ask every connected peer.
    const stored = (await this.#storage.loadRange([id])).length > 0
    await this.#registry.register(id, { type: 'inbox', user })
    const inbox = stored ? await this.#repo.find<InboxDoc>(id) : this.#repo.import<InboxDoc>(inboxGenesis(user), { docId: id })
    if (!inbox.doc().legacyMerged) await this.#mergeLegacy(user, inbox)
    return inbox
  }

  /**
   * A data directory written before inbox IDs had their own namespace holds the user's
   * inbox under the legacy ID: its conversations move into the new inbox once (marked,
   * so a conversation the user leaves later does not come back). Only an inbox the
   * registry gives to this user counts: a document someone else put under that ID
   * (the squat the namespace ends) is ignored.
   */
  async #mergeLegacy(user: string, inbox: DocHandle<InboxDoc>): Promise<void> {
    const legacyId = legacyInboxDocumentId(user) as DocumentId
    const entry = await this.#registry.entry(legacyId)
    if (entry?.type !== 'inbox' || entry.user !== user) return
    if ((await this.#storage.loadRange([legacyId])).length === 0) return
    const legacy = (await this.#repo.find<InboxDoc>(legacyId)).doc()
    inbox.change(d => {
      for (const conversationId of readInbox(legacy)) addToInbox(d, conversationId, legacy.conversations[conversationId]?.addedAt ?? Date.now())
      d.legacyMerged = true
    })
  }
}
