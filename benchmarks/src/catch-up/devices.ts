/**
 * The device of the catch-up benchmark, one per system, in its own process: it holds
 * every conversation on its own storage, goes offline, and later comes back from that
 * storage and catches up.
 */
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { createClient, type ParleyClient } from '@parley/client'
import { Repo, type DocHandle, type DocumentId } from 'automerge-repo-stock'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import * as Y from 'yjs'

const SYNC_TIMEOUT_MS = 300_000

export interface Device {
  /**
   * Opens every conversation from this device's storage, connected, and resolves once
   * each holds `expected` messages (Parley: and client.sync() has resolved); calls
   * `current(i)` as conversation i gets there.
   */
  catchUp(ids: string[], expected: number, current?: (i: number) => void, mark?: (what: string) => void): Promise<void>
  /** Saves what it holds and disconnects: the device is offline. */
  offline(): Promise<void>
}

/** Resolves once `count(i)` reaches `expected` for every i, re-checked whenever `listen(i, check)` calls back. */
function allReach(n: number, expected: number, count: (i: number) => number, listen: (i: number, check: () => void) => void, current: (i: number) => void = () => {}): Promise<void> {
  let left = n
  return new Promise(resolve => {
    for (let i = 0; i < n; i++) {
      let done = false
      const check = () => {
        if (done || count(i) < expected) return
        done = true
        current(i)
        if (--left === 0) resolve()
      }
      listen(i, check)
      check()
    }
  })
}

/** Parley: the real @parley/client on LevelDB; offline is the client closed, back is createClient on the same directory. */
export function parleyDevice(url: string, dir: string, token: string): Device {
  let client: ParleyClient | undefined
  const messages = (items: { text: string }[]) => items.filter(item => item.text.includes('|')).length
  return {
    async catchUp(ids, expected, current, mark = () => {}) {
      client = await createClient({ server: url, token, storage: { kind: 'level', dir } })
      mark('client created')
      client.on('status', status => mark(status))
      const opened = await Promise.all(ids.map(id => client!.conversation(id)))
      mark('conversations opened')
      const timelines = allReach(ids.length, expected, i => messages(opened[i]!.timeline()), (i, check) => void opened[i]!.subscribe(check), current).then(() => mark('timelines complete'))
      await Promise.all([client.sync({ timeout: SYNC_TIMEOUT_MS }).then(() => mark('sync() resolved')), timelines])
    },
    offline: async () => client?.close(),
  }
}

interface StockDoc {
  messages: string[]
}

/** Stock automerge-repo: an unpatched Repo on NodeFS storage; offline is the Repo flushed and shut down, back is a new Repo on the same directory. */
export function stockDevice(url: string, dir: string): Device {
  let repo: Repo | undefined
  return {
    async catchUp(ids, expected, current) {
      repo = new Repo({ storage: new NodeFSStorageAdapter(dir), network: [new WebSocketClientAdapter(url)] })
      const handles: DocHandle<StockDoc>[] = await Promise.all(ids.map(id => repo!.find<StockDoc>(id as DocumentId)))
      await allReach(ids.length, expected, i => handles[i]!.doc()?.messages.length ?? 0, (i, check) => void handles[i]!.on('change', check), current)
    },
    async offline() {
      await repo?.flush()
      await repo?.shutdown()
    },
  }
}

/**
 * Hocuspocus + Yjs: one socket, a provider per document. Node has no y-indexeddb, so the
 * device saves each Y.Doc's state to a file when it goes offline (what y-indexeddb keeps
 * in a browser) and, coming back, applies it to a fresh Y.Doc before connecting.
 */
export function hocuspocusDevice(url: string, dir: string): Device {
  const file = (id: string) => join(dir, `${id}.ydoc`)
  let session: { ids: string[]; docs: Y.Doc[]; close: () => void } | undefined
  return {
    async catchUp(ids, expected, current) {
      const docs = await Promise.all(
        ids.map(async id => {
          const doc = new Y.Doc()
          const saved = await readFile(file(id)).catch(() => undefined)
          if (saved) Y.applyUpdate(doc, saved)
          return doc
        }),
      )
      const socket = new HocuspocusProviderWebsocket({ url, WebSocketPolyfill: WebSocket })
      const providers = ids.map((name, i) => new HocuspocusProvider({ websocketProvider: socket, name, document: docs[i]!, awareness: null, broadcast: false, quiet: true }))
      const close = () => {
        for (const provider of providers) provider.destroy()
        socket.destroy()
      }
      session = { ids, docs, close }
      const synced = providers.map(provider => new Promise<void>(resolve => (provider.isSynced ? resolve() : provider.on('synced', () => resolve()))))
      const arrays = docs.map(doc => doc.getArray<string>('messages'))
      await Promise.all([...synced, allReach(ids.length, expected, i => arrays[i]!.length, (i, check) => arrays[i]!.observe(check), current)])
    },
    async offline() {
      if (!session) return
      const { ids, docs, close } = session
      close()
      await Promise.all(ids.map((id, i) => writeFile(file(id), Y.encodeStateAsUpdate(docs[i]!))))
    },
  }
}
