/**
 * Follows the conversation documents the repo holds: each head once it is ready and
 * after every change (with the members a change removed), and each segment's events
 * (all of them once, then those each change inserts). Membership (the access registry),
 * inboxes and the server sequence all hang off this one watch.
 */
import type { DocHandle, DocHandleChangePayload, DocumentId, Patch, Repo } from '@automerge/automerge-repo'
import { DocumentTypes, documentType, parseEvent, readHead, readSegmentEvents, readString, type Head, type HeadDoc, type ParleyEvent, type SegmentDoc } from '@parley/core'

export interface ConversationListener {
  head(conversationId: string, head: Head, removed: string[]): void
  events(conversationId: string, segmentId: string, events: ParleyEvent[]): void
}

export class ConversationWatch {
  readonly #listener: ConversationListener
  readonly #watched = new Set<string>()

  constructor(repo: Repo, listener: ConversationListener) {
    this.#listener = listener
    repo.synchronizer.on('open-doc', ({ documentId }) => {
      const handle = repo.handles[documentId as DocumentId]
      if (handle) void this.watch(handle)
    })
  }

  /** Stops following a document the repo unloaded: its next handle is followed afresh. */
  forget(documentId: string): void {
    this.#watched.delete(documentId)
  }

  /**
   * Starts following a handle (once); resolves when its current state was reported. A
   * handle without its document yet is followed from the moment it arrives, with no
   * timed wait: most never get one (a request for an unknown ID, answered doc-unavailable
   * and dropped: documents/eviction.ts), and a wait for "ready" on each rejected after 60 s
   * and held the handle until then.
   */
  async watch(handle: DocHandle<unknown>): Promise<void> {
    if (this.#watched.has(handle.documentId)) return
    this.#watched.add(handle.documentId)
    if (!handle.isReady()) {
      // The document arrives as new heads; the handle turns ready right after reporting them.
      const arrived = (): void => {
        if (!handle.isReady() || !this.#watched.has(handle.documentId)) return
        handle.off('heads-changed', onHeads)
        this.#follow(handle)
      }
      const onHeads = (): void => queueMicrotask(arrived)
      handle.on('heads-changed', onHeads)
      return
    }
    this.#follow(handle)
  }

  #follow(handle: DocHandle<unknown>): void {
    const type = documentType(handle.doc())
    if (type === DocumentTypes.head) this.#watchHead(handle as DocHandle<HeadDoc>)
    else if (type === DocumentTypes.segment) this.#watchSegment(handle as DocHandle<SegmentDoc>)
  }

  #watchHead(handle: DocHandle<HeadDoc>): void {
    const id = handle.documentId
    this.#listener.head(id, readHead(handle.doc()), [])
    handle.on('change', ({ doc, patches }: DocHandleChangePayload<HeadDoc>) => {
      const removed = patches.filter(patch => patch.action === 'del' && patch.path[0] === 'members' && patch.path.length === 2).map(patch => String(patch.path[1]))
      this.#listener.head(id, readHead(doc), removed)
    })
  }

  #watchSegment(handle: DocHandle<SegmentDoc>): void {
    const conversationId = readString(handle.doc().conversation)
    if (!conversationId) return
    this.#listener.events(conversationId, handle.documentId, readSegmentEvents(handle.doc()).events)
    handle.on('change', ({ patches }: DocHandleChangePayload<SegmentDoc>) => {
      const inserted = insertedEvents(patches)
      if (inserted.length > 0) this.#listener.events(conversationId, handle.documentId, inserted)
    })
  }
}

/** The events a change inserted into a segment's list, as patches report them. */
function insertedEvents(patches: Patch[]): ParleyEvent[] {
  const events: ParleyEvent[] = []
  for (const patch of patches) {
    if (patch.action !== 'insert' || patch.path[0] !== 'events') continue
    for (const value of patch.values) {
      try {
        events.push(parseEvent(readString(value) ?? ''))
      } catch {
        // Invalid entries never pass the guard; one from before it is skipped, as readers do.
      }
    }
  }
  return events
}
