import { Automerge, cbor, type Message, type PeerId } from '@automerge/automerge-repo/slim'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ServerConnection, type WebSocketClass } from '../src/network/connection.ts'
import { FakeSocket } from './fake-socket.ts'

const DELAY = 50
const latest = () => FakeSocket.instances.at(-1)!

/** Sync messages as the repo makes them: an acknowledgement (no changes, no need), one carrying a change, one asking for a change. */
function syncMessages() {
  let doc = Automerge.from<{ text: string }>({ text: 'hello' })
  doc = Automerge.change(doc, d => (d.text = 'hi'))
  const [, acknowledgement] = Automerge.generateSyncMessage(Automerge.init(), Automerge.initSyncState())
  const [, carrying] = Automerge.generateSyncMessage(doc, Automerge.initSyncState())
  const withChanges = Automerge.encodeSyncMessage({ ...Automerge.decodeSyncMessage(carrying!), changes: Automerge.getAllChanges(doc) })
  const head = Automerge.getHeads(doc)[0]!
  const asking = Automerge.encodeSyncMessage({ heads: [head], need: [head], have: [], changes: [] })
  return { acknowledgement: acknowledgement!, withChanges, asking }
}

const sync = (documentId: string, data: Uint8Array): Message => ({ type: 'sync', senderId: 'me' as PeerId, targetId: 'server' as PeerId, documentId: documentId as Message['documentId'], data }) as Message
const syncsSent = () => latest().sent.filter((m): m is { type: string; documentId: string; data: Uint8Array } => (m as { type: string }).type === 'sync')

describe('ServerConnection: acknowledgements held and coalesced', () => {
  const { acknowledgement, withChanges, asking } = syncMessages()
  let connection: ServerConnection
  /** What the fake repo answers to each received message, by document. */
  let answers: Map<string, Uint8Array[]>

  beforeEach(async () => {
    vi.useFakeTimers()
    FakeSocket.instances = []
    answers = new Map()
    connection = connect(DELAY)
    await vi.advanceTimersByTimeAsync(0)
    latest().accept()
  })
  afterEach(() => {
    connection.disconnect()
    vi.useRealTimers()
  })

  function connect(ackDelayMs: number): ServerConnection {
    // doc-repo stands for a document the server's Repo serves (a head): it waits for our answers.
    const made = new ServerConnection({ url: 'ws://server.test/sync', token: async () => 'token', ackDelayMs, mayHoldAcknowledgement: id => id !== 'doc-repo', WebSocket: FakeSocket as unknown as WebSocketClass })
    // The repo answers a received sync message from inside the 'message' event.
    made.on('message', message => {
      const documentId = (message as { documentId: string }).documentId
      for (const data of answers.get(documentId) ?? []) made.send(sync(documentId, data))
    })
    made.connect('me' as PeerId, {})
    return made
  }

  /** The server's sync message for `documentId` arrives. */
  function receive(documentId: string): void {
    const bytes = cbor.encode({ type: 'sync', senderId: 'server', targetId: 'me', documentId, data: withChanges })
    latest().onmessage?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer })
  }

  it('holds answers to received changes and sends the newest per document once the delay is up', async () => {
    const second = Automerge.encodeSyncMessage({ ...Automerge.decodeSyncMessage(acknowledgement), heads: Automerge.decodeSyncMessage(asking).heads })
    answers.set('doc-1', [acknowledgement])
    receive('doc-1')
    answers.set('doc-1', [second])
    receive('doc-1')
    answers.set('doc-2', [acknowledgement])
    receive('doc-2')
    await vi.advanceTimersByTimeAsync(DELAY - 1)
    expect(syncsSent()).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(syncsSent().map(m => [m.documentId, [...m.data]])).toEqual([
      ['doc-1', [...second]],
      ['doc-2', [...acknowledgement]],
    ])
  })

  it('sends our own changes and requests for changes at once, and drops the held answer they supersede', async () => {
    answers.set('doc-1', [acknowledgement])
    receive('doc-1')
    answers.set('doc-2', [acknowledgement])
    receive('doc-2')
    connection.send(sync('doc-1', withChanges))
    answers.set('doc-3', [asking])
    receive('doc-3')
    await vi.advanceTimersByTimeAsync(0) // the answers written after the turn (connection.ts #flushOutbox)
    expect(syncsSent().map(m => m.documentId)).toEqual(['doc-1', 'doc-3'])
    await vi.advanceTimersByTimeAsync(DELAY)
    // doc-1's held answer was superseded by the change; doc-2's was not.
    expect(syncsSent().map(m => m.documentId)).toEqual(['doc-1', 'doc-3', 'doc-2'])
  })

  it('sends at once what is not an answer to the document received, holding the answer that is', async () => {
    connection.send(sync('doc-1', acknowledgement))
    answers.set('doc-2', [acknowledgement])
    connection.on('message', () => connection.send(sync('doc-other', acknowledgement)))
    receive('doc-2')
    await vi.advanceTimersByTimeAsync(0)
    expect(syncsSent().map(m => m.documentId)).toEqual(['doc-1', 'doc-other'])
    await vi.advanceTimersByTimeAsync(DELAY)
    expect(syncsSent().map(m => m.documentId)).toEqual(['doc-1', 'doc-other', 'doc-2'])
  })

  it('sends at once the answers about a document whose acknowledgements may not wait, holding the others', async () => {
    answers.set('doc-repo', [acknowledgement])
    answers.set('doc-1', [acknowledgement])
    receive('doc-repo')
    receive('doc-1')
    await vi.advanceTimersByTimeAsync(0)
    expect(syncsSent().map(m => m.documentId)).toEqual(['doc-repo'])
    await vi.advanceTimersByTimeAsync(DELAY)
    expect(syncsSent().map(m => m.documentId)).toEqual(['doc-repo', 'doc-1'])
  })

  it('drops held answers with the connection, not sending them on the next one', async () => {
    answers.set('doc-1', [acknowledgement])
    receive('doc-1')
    await vi.advanceTimersByTimeAsync(0)
    expect(syncsSent()).toEqual([])
    latest().close(1006)
    await vi.advanceTimersByTimeAsync(1_000) // the reconnect's backoff
    expect(FakeSocket.instances).toHaveLength(2)
    latest().accept()
    await vi.advanceTimersByTimeAsync(DELAY)
    expect(FakeSocket.instances.flatMap(socket => socket.sent).filter(m => (m as { type: string }).type === 'sync')).toEqual([])
  })

  it('sends every answer at once with ackDelayMs 0', async () => {
    connection.disconnect()
    connection = connect(0)
    await vi.advanceTimersByTimeAsync(0)
    latest().accept()
    answers.set('doc-1', [acknowledgement])
    receive('doc-1')
    receive('doc-1')
    await vi.advanceTimersByTimeAsync(0)
    expect(syncsSent().map(m => m.documentId)).toEqual(['doc-1', 'doc-1'])
  })
})
