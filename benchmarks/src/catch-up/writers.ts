/**
 * The other side of the catch-up benchmark, in the coordinator: makes the conversations
 * (the device a member of each) and writes messages into them while the device is
 * offline, resolving only once the server holds every one. One change or update per
 * message, as messages from other devices would arrive.
 */
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import { Repo, type DocHandle, type PeerId, type StorageId } from 'automerge-repo-stock'
import { SignJWT } from 'jose'
import { randomUUID } from 'node:crypto'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { AutomergePeer } from '../fanout/automerge-peer.ts'
import { SECRET } from '../fanout/system.ts'
import { sleep } from '../fanout/timing.ts'
import { withTimeout } from '../lib/processes.ts'
import { inParallel } from '../lib/parallel.ts'

export const DEVICE_USER = 'device'
const WRITER = 'writer'
const WAIT_MS = 300_000

export const textOf = (conversation: number, index: number): string => `${conversation}|${index}|${'x'.repeat(100)}`.slice(0, 100)

export interface Writer {
  /** Makes `count` conversations of `history` messages each; resolves with their IDs. */
  create(count: number, history: number): Promise<string[]>
  /** Appends messages `from` … `from + count - 1` to every conversation; resolves once the server has them. */
  write(ids: string[], from: number, count: number): Promise<void>
  close(): Promise<void>
}

export const token = (user: string) =>
  new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setExpirationTime('2h').sign(new TextEncoder().encode(SECRET))

/** Parley: a backend publishing over HTTP (each message one stored change, numbered, checked). */
export async function parleyWriter(httpUrl: string): Promise<Writer> {
  const authorization = `Bearer ${await token(WRITER)}`
  const post = async (path: string, body: object) => {
    const response = await fetch(`${httpUrl}${path}`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify(body) })
    if (response.status !== 201) throw new Error(`POST ${path}: HTTP ${response.status} ${await response.text()}`)
    return response.json() as Promise<{ id: string }>
  }
  const write = async (ids: string[], from: number, count: number): Promise<void> => {
    await inParallel(ids.length * count, 8, async n => {
      const c = n % ids.length
      await post(`/v1/conversations/${ids[c]}/messages`, { text: textOf(c, from + Math.floor(n / ids.length)) })
    })
  }
  return {
    async create(count, history) {
      const ids = await inParallel(count, 8, async i => (await post('/v1/conversations', { kind: 'group', title: `catch-up ${i}`, members: [DEVICE_USER] })).id)
      await write(ids, 0, history)
      return ids
    },
    write,
    close: async () => {},
  }
}

/**
 * Stock automerge-repo: an unpatched Repo (no storage) as the writer, one document
 * `{ messages: string[] }` per conversation (as in bench:latency). The server has a
 * change once it reports our heads for its storage ID.
 */
export async function stockWriter(url: string): Promise<Writer> {
  // The stock server says `listening` before its repo answers joins: wait until one is answered.
  for (let attempt = 1; ; attempt++) {
    try {
      ;(await AutomergePeer.connect(url, `probe-${randomUUID()}`, 'probe', undefined, 1_000)).close()
      break
    } catch (error) {
      if (attempt === 10) throw error
    }
  }
  const adapter = new WebSocketClientAdapter(url)
  const repo = new Repo({ network: [adapter] })
  await withTimeout(adapter.whenReady(), 'the stock server', 30_000)
  const handles = new Map<string, DocHandle<{ messages: string[] }>>()
  const serverHasAll = async () => {
    const deadline = Date.now() + WAIT_MS
    for (;;) {
      const storageIds = Object.values(repo.peerMetadataByPeerId as Record<PeerId, { storageId?: StorageId }>).map(m => m.storageId).filter(id => id !== undefined)
      const synced = (handle: DocHandle<unknown>) => storageIds.some(id => [...(handle.getSyncInfo(id)?.lastHeads ?? [])].sort().join() === [...handle.heads()].sort().join())
      if ([...handles.values()].every(synced)) return
      if (Date.now() > deadline) throw new Error('stock server did not acknowledge every change')
      await sleep(20)
    }
  }
  const write = async (ids: string[], from: number, count: number) => {
    for (const [c, id] of ids.entries()) {
      for (let k = from; k < from + count; k++) handles.get(id)!.change(doc => void doc.messages.push(textOf(c, k)))
      // One conversation at a time, so the socket answers the stock server's keep-alive
      // pings (it drops a peer silent for 5 s, and the writer then waits out a reconnect).
      await new Promise(resolve => setImmediate(resolve))
    }
    await serverHasAll()
  }
  return {
    async create(count, history) {
      for (let i = 0; i < count; i++) {
        const handle = repo.create<{ messages: string[] }>({ messages: [] })
        handles.set(handle.documentId, handle)
      }
      const ids = [...handles.keys()]
      await write(ids, 0, history)
      return ids
    },
    write,
    close: async () => adapter.disconnect(),
  }
}

/** Hocuspocus + Yjs: one provider per document on one socket, a Y.Array of texts. */
export async function hocuspocusWriter(url: string): Promise<Writer> {
  let socket: HocuspocusProviderWebsocket | undefined
  let providers = new Map<string, HocuspocusProvider>()
  const open = async (ids: string[]) => {
    socket = new HocuspocusProviderWebsocket({ url, WebSocketPolyfill: WebSocket })
    await new Promise<void>(resolve => socket!.on('open', () => resolve()))
    providers = new Map(ids.map(name => [name, new HocuspocusProvider({ websocketProvider: socket!, name, document: new Y.Doc(), awareness: null, broadcast: false, quiet: true })]))
    await Promise.all([...providers.values()].map(provider => new Promise<void>(resolve => (provider.isSynced ? resolve() : provider.on('synced', () => resolve())))))
  }
  const close = async () => {
    for (const provider of providers.values()) provider.destroy()
    socket?.destroy()
    providers = new Map()
  }
  // Connected only while writing: with no connection left, Hocuspocus stores the document and unloads it.
  const write = async (ids: string[], from: number, count: number) => {
    await open(ids)
    ids.forEach((id, c) => {
      const messages = providers.get(id)!.document.getArray<string>('messages')
      for (let k = from; k < from + count; k++) messages.push([textOf(c, k)])
    })
    const deadline = Date.now() + WAIT_MS
    while ([...providers.values()].some(provider => provider.hasUnsyncedChanges)) {
      if (Date.now() > deadline) throw new Error('Hocuspocus did not acknowledge every update')
      await sleep(20)
    }
    await close()
  }
  return {
    async create(count, history) {
      const ids = Array.from({ length: count }, () => randomUUID())
      await write(ids, 0, history)
      return ids
    },
    write,
    close,
  }
}
