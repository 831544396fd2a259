/**
 * Hocuspocus + Yjs: seeded as the files the latency benchmark's Hocuspocus server
 * persists (one Y.Doc state per conversation); touched by a provider that connects,
 * pushes one message, waits until the server has it, and disconnects (Hocuspocus then
 * stores and unloads the document, as it does by default).
 */
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { inParallel } from '../lib/parallel.ts'
import { seedText, type ResidentSystem } from './system.ts'

export const hocuspocusResident: ResidentSystem = {
  server: 'hocuspocus',
  async seed(dataDir, count, progress) {
    const ids = Array.from({ length: count }, (_, index) => `conversation-${index}`)
    let done = 0
    await inParallel(count, 32, async index => {
      const name = ids[index]!
      const doc = new Y.Doc()
      doc.getArray<string>('messages').push([seedText(index)])
      await writeFile(join(dataDir, `${encodeURIComponent(name)}.ydoc`), Y.encodeStateAsUpdate(doc))
      doc.destroy()
      progress(++done)
    })
    return ids
  },
  async connect({ url }) {
    const socket = new HocuspocusProviderWebsocket({ url, WebSocketPolyfill: WebSocket })
    await new Promise<void>(resolve => socket.on('open', () => resolve()))
    return {
      async touch(_index, name, text) {
        const document = new Y.Doc()
        const provider = new HocuspocusProvider({ websocketProvider: socket, name, document, awareness: null, broadcast: false, quiet: true })
        await new Promise<void>(resolve => provider.on('synced', () => resolve()))
        document.getArray<string>('messages').push([text])
        await new Promise<void>(resolve => {
          const check = () => provider.unsyncedChanges === 0 && (provider.off('unsyncedChanges', check), resolve())
          provider.on('unsyncedChanges', check)
          check()
        })
        provider.destroy()
        document.destroy()
      },
      close: async () => socket.destroy(),
    }
  },
}
