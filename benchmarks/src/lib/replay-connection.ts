/**
 * One device's connection for Parley's replaying load generator: one WebSocket speaking
 * automerge-repo's protocol (`join` → `peer`, then `request`/`sync` per document), with
 * any number of documents on it, as a client's repo has (a conversation's head and each
 * segment it loaded). Each document is a ReplayDocument (lib/replay-member.ts): synced
 * with Automerge when opened or created, then, unless kept, answered from change headers.
 */
import { randomUUID } from 'node:crypto'
import { WebSocket, type RawData } from 'ws'
import { opened } from '../fanout/system.ts'
import { ReplayDocument, type ReplayDocumentOptions } from './replay-member.ts'
import { decodeEnvelope, encodeEnvelope, tokenFor, type Envelope } from './replay-wire.ts'
import { Waiters } from './waiters.ts'

const WAIT_MS = 60_000

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data)
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data
}

export class ReplayConnection {
  readonly user: string
  readonly clock: () => number
  readonly #socket: WebSocket
  readonly #peerId: string
  #serverId = ''
  readonly #documents = new Map<string, ReplayDocument>()
  readonly #opening = new Map<string, Promise<ReplayDocument>>()
  readonly #waiters = new Waiters()

  private constructor(user: string, socket: WebSocket, clock: () => number) {
    this.user = user
    this.clock = clock
    this.#socket = socket
    this.#peerId = `${user}-${randomUUID()}`
  }

  /** Connects as `user` and joins (the server answers `peer`). */
  static async connect(url: string, user: string, clock: () => number): Promise<ReplayConnection> {
    const socket = new WebSocket(`${url}?token=${await tokenFor(user)}`)
    await opened(socket)
    const connection = new ReplayConnection(user, socket, clock)
    socket.on('message', data => {
      try {
        connection.#receive(decodeEnvelope(toBytes(data)))
      } catch (error) {
        connection.#fail(new Error(`${user}: a frame from the server could not be read: ${(error as Error).message}`, { cause: error }))
      }
    })
    socket.on('close', (code, reason) => connection.#fail(new Error(`${user}: connection closed (${code} ${reason})`)))
    try {
      connection.send({ type: 'join', senderId: connection.#peerId, peerMetadata: {}, supportedProtocolVersions: ['1'] } as Envelope)
      await connection.until(() => connection.#serverId !== '', 'the answer to join')
    } catch (error) {
      socket.terminate()
      throw error
    }
    return connection
  }

  get failure(): Error | undefined {
    return this.#waiters.failure
  }

  /** A document already opened or created on this connection. */
  document(documentId: string): ReplayDocument | undefined {
    return this.#documents.get(documentId)
  }

  /** Asks for a document as automerge-repo's `find` does (`request`), resolving once it is synced. Opening twice gives the same document. */
  open(documentId: string, options: ReplayDocumentOptions = {}): Promise<ReplayDocument> {
    let opening = this.#opening.get(documentId)
    const known = this.#documents.get(documentId)
    if (!opening && known) return Promise.resolve(known)
    if (!opening) {
      const doc = new ReplayDocument(this, documentId, options)
      this.#documents.set(documentId, doc)
      opening = doc.request().then(
        () => doc,
        error => {
          this.#documents.delete(documentId)
          throw error
        },
      )
      opening.finally(() => this.#opening.delete(documentId)).catch(() => {})
      this.#opening.set(documentId, opening)
    }
    return opening
  }

  /** A document this device made (`changes`: its whole history), offered to the server as automerge-repo does for a new document. */
  create(documentId: string, changes: readonly Uint8Array[], options: ReplayDocumentOptions = {}): ReplayDocument {
    if (this.#documents.has(documentId)) throw new Error(`${this.user}: document ${documentId} exists already`)
    const doc = new ReplayDocument(this, documentId, options)
    this.#documents.set(documentId, doc)
    doc.offer(changes)
    return doc
  }

  /** A sync-type message (`sync` or `request`) for one document, to the server. */
  sendSync(type: 'sync' | 'request', documentId: string, data: Uint8Array): void {
    this.send({ type, senderId: this.#peerId, targetId: this.#serverId, documentId, data })
  }

  send(envelope: Envelope): void {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(encodeEnvelope(envelope))
  }

  close(): void {
    this.#socket.terminate()
  }

  /** Resolves once `test()` holds (checked after every frame and every answer), rejects on a failure or after a minute. */
  until(test: () => boolean, what: string): Promise<void> {
    return this.#waiters.until(test, WAIT_MS, () => new Error(`${this.user}: timed out waiting for ${what}`))
  }

  /** Re-checks every waiter (a document answered). */
  wake(): void {
    this.#waiters.wake()
  }

  #receive(frame: Envelope): void {
    if (frame.type === 'peer') this.#serverId = frame.senderId ?? ''
    else if (frame.type === 'doc-unavailable') {
      // A segment listed before its writer's changes reached the server: asked again while
      // being opened (the document retries); an answer to an earlier request once it arrived, ignored.
      if (frame.documentId !== undefined) this.#documents.get(frame.documentId)?.unavailable()
    }
    else if (frame.type === 'error') this.#fail(new Error(`${this.user}: server error ${frame.message}`))
    else if ((frame.type === 'sync' || frame.type === 'request') && frame.documentId && frame.data) this.#documents.get(frame.documentId)?.receive(frame.data)
    this.wake()
  }

  #fail(error: Error): void {
    this.#waiters.fail(error)
  }
}
