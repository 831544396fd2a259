/** automerge-repo as upstream ships it: one document per conversation, its messages a list. */
import { WebSocketClientAdapter, WebSocketServerAdapter } from '@automerge/automerge-repo-network-websocket'
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs'
import { Repo, type DocHandle, type DocumentId } from 'automerge-repo-stock'
import { WebSocketServer } from 'ws'
import { workerServer, type System } from './system.ts'

interface StockDoc {
  messages: string[]
}

export const stockAutomergeRepo: System = {
  name: 'stock automerge-repo 2.5.6',
  serverCommand: workerServer('stock'),
  async client(url) {
    const adapter = new WebSocketClientAdapter(url)
    const repo = new Repo({ network: [adapter] })
    await adapter.whenReady()
    let handle: DocHandle<StockDoc> | undefined
    return {
      async create() {
        handle = repo.create<StockDoc>({ messages: [] })
        await repo.flush()
        return handle.documentId
      },
      async open(id, onText) {
        const found = await repo.find<StockDoc>(id as DocumentId)
        let seen = found.doc().messages.length
        found.on('change', ({ doc }) => {
          while (seen < doc.messages.length) onText(String(doc.messages[seen++]))
        })
      },
      send: async text => handle!.change(doc => void doc.messages.push(text)),
      close: async () => adapter.disconnect(),
    }
  },
}

/** automerge-repo's sync server as upstream ships it: Repo + WebSocketServerAdapter + NodeFS. */
export function runStockServer(port: number, dataDir: string): void {
  const wss = new WebSocketServer({ port, host: '127.0.0.1' })
  new Repo({ network: [new WebSocketServerAdapter(wss as never)], storage: new NodeFSStorageAdapter(dataDir), sharePolicy: async () => false })
  wss.on('listening', () => console.log(`listening on ${port}`))
}
