/**
 * Keeps every user's inbox document: the conversations they belong to, so a device
 * that was offline knows what to sync. The server watches each conversation head it
 * holds and adds the conversation to each member's inbox, and removes it from a member
 * who was removed.
 */
import type { DocHandle, DocHandleChangePayload, DocumentId, Repo, StorageAdapterInterface } from '@automerge/automerge-repo'
import { addToInbox, DocumentTypes, documentType, inboxDocumentId, inboxGenesis, readHead, removeFromInbox, type HeadDoc, type InboxDoc } from '@parley/core'
import type { FastifyBaseLogger } from 'fastify'

export class InboxKeeper {
  readonly #repo: Repo
  readonly #storage: StorageAdapterInterface
  readonly #log: FastifyBaseLogger
  readonly #inboxes = new Map<string, Promise<DocHandle<InboxDoc>>>()
  readonly #watched = new Set<string>()

  constructor(repo: Repo, storage: StorageAdapterInterface, log: FastifyBaseLogger) {
    this.#repo = repo
    this.#storage = storage
    this.#log = log
  }

  /** The user's inbox, loaded from storage or created from its deterministic genesis. */
  inbox(user: string): Promise<DocHandle<InboxDoc>> {
    let inbox = this.#inboxes.get(user)
    if (!inbox) {
      inbox = this.#open(user)
      this.#inboxes.set(user, inbox)
      inbox.catch(() => this.#inboxes.delete(user))
    }
    return inbox
  }

  /** Starts watching a document the repo just opened for a peer; only heads matter. */
  observe(documentId: string): void {
    if (this.#watched.has(documentId)) return
    const handle = this.#repo.handles[documentId as DocumentId] as DocHandle<HeadDoc> | undefined
    if (!handle) return
    this.#watched.add(documentId)
    void handle.whenReady().then(() => {
      if (documentType(handle.doc()) !== DocumentTypes.head) return
      void this.#update(handle.documentId, handle.doc(), [])
      handle.on('change', ({ doc, patches }: DocHandleChangePayload<HeadDoc>) => {
        const removed = patches.filter(patch => patch.action === 'del' && patch.path[0] === 'members' && patch.path.length === 2).map(patch => String(patch.path[1]))
        void this.#update(handle.documentId, doc, removed)
      })
    })
  }

  async #update(conversationId: string, doc: HeadDoc, removed: string[]): Promise<void> {
    try {
      const members = Object.keys(readHead(doc).members)
      const at = Date.now()
      for (const user of members) {
        const inbox = await this.inbox(user)
        if (!inbox.doc().conversations[conversationId]) inbox.change(d => addToInbox(d, conversationId, at))
      }
      for (const user of removed.filter(user => !members.includes(user))) {
        const inbox = await this.inbox(user)
        if (inbox.doc().conversations[conversationId]) inbox.change(d => removeFromInbox(d, conversationId))
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
    const handle = stored ? await this.#repo.find<InboxDoc>(id) : this.#repo.import<InboxDoc>(inboxGenesis(user), { docId: id })
    this.#watched.add(id)
    return handle
  }
}
