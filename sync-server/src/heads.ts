/**
 * Follows every conversation head the repo opens for a peer: `onHead` runs once the head
 * is ready and again after every change to it, with the members a change removed. Both
 * membership (the access registry) and inboxes hang off this one watch.
 */
import type { DocHandle, DocHandleChangePayload, DocumentId, Repo } from '@automerge/automerge-repo'
import { DocumentTypes, documentType, readHead, type Head, type HeadDoc } from '@parley/core'

export type HeadListener = (conversationId: string, head: Head, removed: string[]) => void

export function watchHeads(repo: Repo, onHead: HeadListener): void {
  const watched = new Set<string>()
  repo.synchronizer.on('open-doc', ({ documentId }) => {
    if (watched.has(documentId)) return
    const handle = repo.handles[documentId as DocumentId] as DocHandle<HeadDoc> | undefined
    if (!handle) return
    watched.add(documentId)
    void handle.whenReady().then(() => {
      if (documentType(handle.doc()) !== DocumentTypes.head) return
      onHead(documentId, readHead(handle.doc()), [])
      handle.on('change', ({ doc, patches }: DocHandleChangePayload<HeadDoc>) => {
        const removed = patches.filter(patch => patch.action === 'del' && patch.path[0] === 'members' && patch.path.length === 2).map(patch => String(patch.path[1]))
        onHead(documentId, readHead(doc), removed)
      })
    })
  })
}
