/**
 * A lightweight automerge-repo peer: one WebSocket, automerge-repo's CBOR wire protocol
 * (`join` → `peer`, then `request`/`sync` messages) and ONE document synced with plain
 * Automerge, so a thousand of them fit in a couple of processes where a thousand Repos
 * (or @parley/client instances) would not. It speaks to Parley's server and to stock
 * automerge-repo's alike.
 */
import { next as Automerge } from '@automerge/automerge'
import { cbor } from '@automerge/automerge-repo'
import { WebSocket, type RawData } from 'ws'
import { Waiters } from '../lib/waiters.ts'
import { opened } from './system.ts'

interface Frame {
  type: string
  senderId?: string
  documentId?: string
  data?: Uint8Array
  message?: string
}

const WAIT_MS = 60_000

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data)
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data
}

export class AutomergePeer<T> {
  readonly #socket: WebSocket
  readonly #peerId: string
  readonly #documentId: string
  #doc: Automerge.Doc<T>
  #state = Automerge.initSyncState()
  #serverId = ''
  #replyScheduled = false
  readonly #waiters = new Waiters()
  /** Called after every sync message from the server, with the document as it now is. */
  onSync: ((doc: Automerge.Doc<T>) => void) | undefined
  /**
   * How long a reply waits (ms), taking in what arrives meanwhile. 0: until this process has
   * read the frames already waiting. The client library holds its acknowledgements 50 ms
   * (clients/sdk/src/network/acknowledgements.ts).
   */
  replyDelayMs = 0

  private constructor(socket: WebSocket, peerId: string, documentId: string, doc: Automerge.Doc<T>) {
    this.#socket = socket
    this.#peerId = peerId
    this.#documentId = documentId
    this.#doc = doc
  }

  /** Connects and joins; sync starts with `start()`. `doc`: a document this peer brings. */
  static async connect<T>(url: string, peerId: string, documentId: string, doc: Automerge.Doc<T> = Automerge.init<T>(), joinTimeoutMs = WAIT_MS): Promise<AutomergePeer<T>> {
    const socket = new WebSocket(url)
    await opened(socket)
    const peer = new AutomergePeer(socket, peerId, documentId, doc)
    socket.on('message', data => peer.#receive(cbor.decode(toBytes(data)) as Frame))
    socket.on('close', (code, reason) => peer.#fail(new Error(`${peerId}: connection closed (${code} ${reason})`)))
    socket.send(cbor.encode({ type: 'join', senderId: peerId, peerMetadata: {}, supportedProtocolVersions: ['1'] }))
    try {
      await peer.until(() => peer.#serverId !== '', 'the answer to join', joinTimeoutMs)
    } catch (error) {
      socket.terminate()
      throw error
    }
    return peer
  }

  get doc(): Automerge.Doc<T> {
    return this.#doc
  }

  /** Starts syncing the document: a `request` when this peer has none of it, else `sync`. */
  start(): void {
    this.#sendSync(Automerge.getHeads(this.#doc).length === 0 ? 'request' : 'sync')
  }

  /** A local change, sent to the server at once. */
  change(fn: Automerge.ChangeFn<T>): void {
    this.#doc = Automerge.change(this.#doc, fn)
    this.#sendSync('sync')
  }

  /** Has the server acknowledged every change of ours? */
  serverHasOurChanges(): boolean {
    return Automerge.hasOurChanges(this.#doc, this.#state)
  }

  /** Resolves once `test()` holds (checked after each frame), rejects on close or error. */
  until(test: () => boolean, what = 'the server', timeoutMs = WAIT_MS): Promise<void> {
    return this.#waiters.until(test, timeoutMs, () => new Error(`${this.#peerId}: timed out waiting for ${what}`))
  }

  close(): void {
    this.#socket.terminate()
  }

  #receive(frame: Frame): void {
    if (frame.type === 'peer') this.#serverId = frame.senderId ?? ''
    else if (frame.type === 'doc-unavailable' && frame.documentId === this.#documentId) this.#fail(new Error(`${this.#peerId}: document unavailable`))
    else if (frame.type === 'error') this.#fail(new Error(`${this.#peerId}: server error ${frame.message}`))
    else if ((frame.type === 'sync' || frame.type === 'request') && frame.documentId === this.#documentId && frame.data) {
      ;[this.#doc, this.#state] = Automerge.receiveSyncMessage(this.#doc, this.#state, frame.data)
      this.onSync?.(this.#doc)
      // The reply waits until this process has read every frame already waiting for it:
      // the many members one worker holds would each be on its own device in real life,
      // so one member's reply must not delay another member's arrival.
      if (!this.#replyScheduled) {
        this.#replyScheduled = true
        const reply = () => {
          this.#replyScheduled = false
          this.#sendSync('sync')
        }
        if (this.replyDelayMs > 0) setTimeout(reply, this.replyDelayMs)
        else setImmediate(reply)
      }
    }
    this.#waiters.wake()
  }

  #sendSync(type: 'request' | 'sync'): void {
    const [state, data] = Automerge.generateSyncMessage(this.#doc, this.#state)
    this.#state = state
    if (!data || this.#socket.readyState !== WebSocket.OPEN) return
    this.#socket.send(cbor.encode({ type, senderId: this.#peerId, targetId: this.#serverId, documentId: this.#documentId, data }))
  }

  #fail(error: Error): void {
    this.#waiters.fail(error)
  }
}
