/**
 * automerge-repo keeps some per-peer records for ever. The public ones are cleaned up
 * here; the private ones are measured by test/reliability/memory.test.ts and listed in
 * docs/reliability.md.
 */
import type { PeerId, Repo } from '@automerge/automerge-repo'

/** `repo.peerMetadataByPeerId` gains an entry per peer ID and never drops it: every client session uses a new one. */
export function forgetDisconnectedPeers(repo: Repo): void {
  repo.networkSubsystem.on('peer-disconnected', ({ peerId }: { peerId: PeerId }) => {
    delete repo.peerMetadataByPeerId[peerId]
  })
}
