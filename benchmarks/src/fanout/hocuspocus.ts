/**
 * Hocuspocus + Yjs: every member has its own socket and a provider on the one document
 * (a Y.Array of message texts); the sender pushes to the array.
 *
 * Awareness is off (`awareness: null`): chat members need no cursors, and with it on
 * every member's presence goes to every other member (N² frames), renewed every 15 s,
 * which would swamp the measurement. Without awareness nothing arrives while idle, so
 * the socket's "no message for a while: reconnect" check is pushed out of the way.
 */
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { randomUUID } from 'node:crypto'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import type { FanoutSystem } from './system.ts'

const HOUR_MS = 3_600_000

async function provider(url: string, name: string): Promise<{ messages: Y.Array<string>; close: () => void }> {
  const socket = new HocuspocusProviderWebsocket({ url, WebSocketPolyfill: WebSocket, messageReconnectTimeout: HOUR_MS })
  await new Promise<void>(resolve => socket.on('open', () => resolve()))
  const document = new Y.Doc()
  const provider = new HocuspocusProvider({ websocketProvider: socket, name, document, awareness: null, broadcast: false, quiet: true })
  await new Promise<void>(resolve => provider.on('synced', () => resolve()))
  return {
    messages: document.getArray<string>('messages'),
    close: () => {
      provider.destroy()
      socket.destroy()
    },
  }
}

export const hocuspocusFanout: FanoutSystem = {
  server: 'hocuspocus',
  async createGroup({ url }) {
    const name = randomUUID()
    const sender = await provider(url, name)
    return { id: name, send: text => sender.messages.push([text]), close: async () => sender.close() }
  },
  async join(url, _user, name, onText) {
    const member = await provider(url, name)
    member.messages.observe(event => {
      for (const item of event.changes.added) for (const text of item.content.getContent()) if (typeof text === 'string') onText(text)
    })
    return member.close
  },
}
