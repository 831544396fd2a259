import { next as Automerge } from '@automerge/automerge'
import { cbor, Repo, type AutomergeUrl, type DocHandle, type PeerId } from '@automerge/automerge-repo'
import { appendEvent, initHead, initSegment, type HeadDoc, type MessageEvent, type SegmentDoc } from '@parley/core'
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import { WebSocket, type RawData } from 'ws'
import { RawClient, stopStockAdapter, withTimeout, type TestServer } from '../src/testing.ts'

export { RawClient } from '../src/testing.ts'

export interface StockClient {
  repo: Repo
  server: Pick<TestServer, 'url' | 'token'>
  user: string
  /** How the first connection closed (the adapter reconnects after it). */
  closed: Promise<{ code: number; reason: string }>
  /**
   * Resolves with 'answered' once the server has handled everything the client sent before
   * on its first connection and sent it every answer (a Parley heads request, answered in
   * turn: network/server-adapter.ts), or with how that connection closed first.
   */
  settled(): Promise<'answered' | { code: number; reason: string }>
  close(): void
}

/** A stock automerge-repo client (no Parley code), connected with a token. */
export async function stockRepo(server: Pick<TestServer, 'url' | 'token'>, user: string, peerId?: string): Promise<StockClient> {
  const adapter = new WebSocketClientAdapter(`${server.url}?token=${await server.token(user)}`)
  const repo = new Repo({ network: [adapter], peerId: peerId as PeerId | undefined })
  await adapter.whenReady()
  // The repo opened the adapter's socket; in Node it is a `ws` WebSocket.
  const socket = (adapter as unknown as { socket: WebSocket }).socket
  const closed = new Promise<{ code: number; reason: string }>(resolve => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  let requests = 0
  const settled = (): Promise<'answered' | { code: number; reason: string }> => {
    if (socket.readyState !== WebSocket.OPEN) return closed
    const requestId = ++requests
    let listener = (_data: RawData): void => {}
    const answered = new Promise<'answered'>(resolve => {
      listener = data => {
        // The stock adapter passes the reply on too; its repo drops it (not a repo message).
        const reply = cbor.decode(toBytes(data)) as { type?: string; requestId?: number }
        if (reply.type === 'parley/heads' && reply.requestId === requestId) resolve('answered')
      }
      socket.on('message', listener)
    })
    socket.send(cbor.encode({ type: 'parley/heads-request', senderId: repo.peerId, requestId, documentIds: [] }))
    return Promise.race([answered, closed]).finally(() => socket.off('message', listener))
  }
  return { repo, server, user, closed, settled, close: () => stopStockAdapter(adapter) }
}

function toBytes(data: RawData): Uint8Array {
  return Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data
}

/** A conversation made the way any automerge-repo client can: core's document functions on a stock Repo. */
export function createConversationDocs(repo: Repo, creator: string, members: string[], title = ''): { head: DocHandle<HeadDoc>; segment: DocHandle<SegmentDoc> } {
  const head = repo.create<HeadDoc>()
  const segment = repo.create<SegmentDoc>()
  segment.change(doc => initSegment(doc, head.documentId))
  head.change(doc => initHead(doc, { kind: 'group', title, creator, members, at: Date.now(), firstSegment: segment.documentId }))
  return { head, segment }
}

let eventCounter = 0

/** Appends a message event authored by `author` (who may not be the writer: that is for the forgery tests). */
export function appendMessage(segment: DocHandle<SegmentDoc>, author: string, text: string): MessageEvent {
  const event: MessageEvent = { id: `e${++eventCounter}-${author}`, type: 'message', author, device: `${author}-device`, at: Date.now(), text }
  segment.change(doc => appendEvent(doc, event))
  return event
}

/**
 * Resolves once the handle's document satisfies `predicate`; bounded (20 s, a bound for a
 * loaded machine, not a timing goal), so a wait that never ends names itself rather than
 * running into the test's timeout.
 */
export function until<T>(handle: DocHandle<T>, predicate: (doc: T) => boolean): Promise<void> {
  if (predicate(handle.doc())) return Promise.resolve()
  let listener = (): void => {}
  const arrived = new Promise<void>(resolve => {
    listener = (): void => {
      if (predicate(handle.doc())) resolve()
    }
    handle.on('change', listener)
  })
  return withTimeout(arrived, 20_000, `${handle.documentId} reaching the state waited for`).finally(() => handle.off('change', listener))
}

/**
 * Waits until the server holds the document (a writer's first sync may still be on its
 * way, and a stock repo that once heard "unavailable" does not ask again), then finds it.
 * Asks the server's heads as the client's user; bounded: 30 s (a bound for a loaded
 * machine, where a test file shares the cores with others, not a timing goal).
 */
export async function findWhenSynced<T>(client: StockClient, documentId: string): Promise<DocHandle<T>> {
  const probe = await RawClient.open(client.server, client.user)
  const peerId = `probe-${Math.random().toString(36).slice(2)}`
  await probe.join(peerId)
  const deadline = Date.now() + 30_000
  try {
    for (let attempt = 0; ; attempt++) {
      probe.send({ type: 'parley/heads-request', senderId: peerId, requestId: attempt, documentIds: [documentId] })
      const reply = await probe.next(message => message.type === 'parley/heads' && message.requestId === attempt)
      if ((reply.heads as Record<string, unknown>)[documentId]) break
      if (Date.now() > deadline) throw new Error(`the server never held ${documentId} (asked ${attempt + 1} times in 30 s)`)
      await new Promise(resolve => setTimeout(resolve, 10))
    }
  } finally {
    probe.socket.close()
  }
  return withTimeout(client.repo.find<T>(documentId as AutomergeUrl), 20_000, `${client.user}'s repo finding ${documentId}`)
}

/** A hand-built sync message carrying every change of `doc`, as a peer that knows nothing of the receiver would send. */
export function syncMessageWithAllChanges(doc: Automerge.Doc<unknown>): Uint8Array {
  return Automerge.encodeSyncMessage({ heads: Automerge.getHeads(doc), need: [], have: [], changes: Automerge.getAllChanges(doc) })
}
