/**
 * Stock automerge-repo: seeded by a Repo on NodeFS storage in the server's directory;
 * touched by a client Repo (one document per conversation, as in the latency benchmark)
 * that waits until the server acknowledges the change.
 */
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs'
import { Repo, type DocumentId } from 'automerge-repo-stock'
import { seedText, type ResidentSystem } from './system.ts'

interface StockDoc {
  messages: string[]
}

const FLUSH_EVERY = 500

export const stockResident: ResidentSystem = {
  server: 'stock',
  async seed(dataDir, count, progress) {
    const ids: string[] = []
    // A Repo per batch, so the seeding process does not hold every document at once.
    for (let first = 0; first < count; first += FLUSH_EVERY) {
      const repo = new Repo({ storage: new NodeFSStorageAdapter(dataDir) })
      for (let index = first; index < Math.min(count, first + FLUSH_EVERY); index++) ids.push(repo.create<StockDoc>({ messages: [seedText(index)] }).documentId)
      await repo.flush()
      await repo.shutdown()
      progress(ids.length)
    }
    return ids
  },
  async connect({ url }) {
    const adapter = new WebSocketClientAdapter(url)
    const repo = new Repo({ network: [adapter] })
    await adapter.whenReady()
    return {
      async touch(_index, id, text) {
        const handle = await repo.find<StockDoc>(id as DocumentId)
        handle.change(doc => void doc.messages.push(text))
        const heads = handle.heads()
        // The server's storage ID is unknown to a storage-less client: wait until the
        // server's side of the sync says it has our heads.
        await new Promise<void>(resolve => {
          const check = () => {
            const info = Object.values(repo.peerMetadataByPeerId).map(meta => meta.storageId && handle.getSyncInfo(meta.storageId)?.lastHeads)
            if (info.some(lastHeads => lastHeads && heads.every(head => lastHeads.includes(head)))) {
              handle.off('remote-heads', check)
              resolve()
            }
          }
          handle.on('remote-heads', check)
          check()
        })
      },
      close: async () => adapter.disconnect(),
    }
  },
}
