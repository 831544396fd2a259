/**
 * The automerge-repo patch ends a sync loop (a peer sending change-less sync messages while
 * neither side's heads move) by starting that peer's sync state afresh, and reports it as a
 * `sync-state-reset` doc-metrics event (README, "No 100 ms throttle"). Each one means two
 * sync states disagreed: worth a warning with the document and the (user-scoped) peer.
 */
import type { Repo } from '@automerge/automerge-repo'
import type { FastifyBaseLogger } from 'fastify'

interface SyncStateReset {
  type: 'sync-state-reset'
  documentId: string
  peerId: string
  messages: number
}

export function logSyncStateResets(repo: Repo, log: FastifyBaseLogger): void {
  repo.on('doc-metrics', event => {
    const reset = event as unknown as SyncStateReset
    if (reset.type !== 'sync-state-reset') return
    log.warn({ documentId: reset.documentId, peerId: reset.peerId, messages: reset.messages }, 'sync loop: that peer\'s sync state starts afresh')
  })
}
