/**
 * Hocuspocus + Yjs: one Y.Doc per conversation, its messages a Y.Array of strings,
 * persisted by the server to one file per document.
 */
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { Server, type Extension } from '@hocuspocus/server'
import { randomUUID } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { workerServer, type System } from './system.ts'

export const hocuspocus: System = {
  name: 'Hocuspocus 2.15.3 + Yjs 13.6.33',
  serverCommand: workerServer('hocuspocus'),
  async client(url) {
    // One socket per client, shared by its documents' providers. It is made explicitly
    // because HocuspocusProvider 2.15's `url` shortcut drops `WebSocketPolyfill` (Node 20
    // has no global WebSocket) and, with the default `preserveConnection`, leaves the
    // socket open on destroy().
    const socket = new HocuspocusProviderWebsocket({ url, WebSocketPolyfill: WebSocket })
    // `open`, not `connect`: the provider only reports `connect` on the first message
    // received, and nothing arrives before a document is attached.
    await new Promise<void>(resolve => socket.on('open', () => resolve()))
    const providers: HocuspocusProvider[] = []
    let messages: Y.Array<string> | undefined
    /** A provider for one document; `synced` resolves once it has synced with the server. */
    const connect = (name: string) => {
      const document = new Y.Doc()
      // `broadcast: false`: no BroadcastChannel shortcut between processes, only the server.
      const provider = new HocuspocusProvider({ websocketProvider: socket, name, document, broadcast: false, quiet: true })
      providers.push(provider)
      const synced = new Promise<void>(resolve => provider.on('synced', () => resolve()))
      return { messages: document.getArray<string>('messages'), synced }
    }
    return {
      async create() {
        const name = randomUUID()
        const opened = connect(name)
        await opened.synced
        messages = opened.messages
        return name
      },
      async open(name, onText) {
        const opened = connect(name)
        opened.messages.observe(event => {
          for (const item of event.changes.added) for (const text of item.content.getContent()) if (typeof text === 'string') onText(text)
        })
        await opened.synced
      },
      send: async text => messages!.push([text]),
      close: async () => {
        for (const provider of providers) provider.destroy()
        socket.destroy()
      },
    }
  },
}

/**
 * Persistence through the store/load hooks: the whole document state, one file per
 * document. `onStoreDocument` keeps Hocuspocus's default debounce (2 s, at most 10 s
 * apart), so writes stay off the delivery path, as Hocuspocus is meant to be run.
 */
export async function runHocuspocus(port: number, dataDir: string): Promise<void> {
  const file = (name: string) => join(dataDir, `${encodeURIComponent(name)}.ydoc`)
  const persistence: Extension = {
    async onLoadDocument({ document, documentName }) {
      const stored = await readFile(file(documentName)).catch(() => undefined)
      if (stored) Y.applyUpdate(document, stored)
    },
    async onStoreDocument({ document, documentName }) {
      await writeFile(file(documentName), Y.encodeStateAsUpdate(document))
    },
  }
  await Server.configure({ port, address: '127.0.0.1', quiet: true, extensions: [persistence] }).listen()
  console.log(`listening on ${port}`)
}
