/**
 * One raw connection of Parley's replaying load generator: automerge-repo's wire protocol
 * (`join` → `peer`, then `request`/`sync`) spoken without an Automerge document once the
 * segment is synced.
 *
 * - Joining: the segment is synced as any client syncs it, with Automerge's own sync
 *   functions on a document (a few changes: the server's genesis), so the server's state
 *   for this peer is what a real client's would be; then the document is dropped.
 * - Receiving: each sync message from the server is decoded with the server's codec; each
 *   change's header (hash, deps, actor, seq) is read without decoding its operations, which
 *   says which recorded message it is (lib/replay-wire.ts actorIndex, seq). The answer is
 *   what Automerge would send once it applied them: its new heads, nothing needed.
 * - A member may instead stay a real client (Automerge document and sync state, as
 *   fanout/automerge-peer.ts): `onDoc` reads its document after each sync message.
 * - Sending: a recorded sync message as is (`sendData`), or a recorded change wrapped in
 *   the sync message the client would send now (`sendChange`: its heads include what it
 *   received meanwhile).
 */
import { next as Automerge } from '@automerge/automerge'
import { randomUUID } from 'node:crypto'
import { WebSocket, type RawData } from 'ws'
import { opened } from '../fanout/system.ts'
import { clientSyncMessage, decodeEnvelope, decodeServerSync, encodeEnvelope, HeadsTracker, parseChangeChunk, tokenFor, type ChangeMeta, type Envelope } from './replay-wire.ts'

const WAIT_MS = 60_000

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data)
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data
}

export interface ReplayMemberOptions {
  url: string
  user: string
  documentId: string
  /** Answer the server's messages as a client would (receivers); a replaying sender's recorded frames already hold its answers. */
  answer: boolean
  /** Each change that arrived (not known before), with the arrival time from `clock`. */
  onChange?: (change: ChangeMeta, at: number) => void
  clock: () => number
}

export class ReplayMember {
  readonly #options: ReplayMemberOptions
  readonly #socket: WebSocket
  readonly #peerId: string
  #serverId = ''
  #doc: Automerge.Doc<unknown> | undefined = Automerge.init()
  #syncState = Automerge.initSyncState()
  #heads = new HeadsTracker()
  #sharedHeads: readonly string[] = []
  #lastSent = ''
  /** Own changes the server has not yet shown it holds (they go in our `have` filter). */
  #ownUnshared: string[] = []
  #answerScheduled = false
  #failure: Error | undefined
  readonly #waiters = new Set<() => void>()
  /** A member that stays a real client (never `raw()`): its document after each sync message. */
  onDoc: ((doc: Automerge.Doc<unknown>) => void) | undefined
  /** Sync messages with a `need` from the server (it lacks a dep of ours): counted, not expected. */
  needs = 0

  private constructor(options: ReplayMemberOptions, socket: WebSocket) {
    this.#options = options
    this.#socket = socket
    this.#peerId = `${options.user}-${randomUUID()}`
  }

  /** Connects, joins, and syncs the segment as a client does. */
  static async join(options: ReplayMemberOptions): Promise<ReplayMember> {
    const socket = new WebSocket(`${options.url}?token=${await tokenFor(options.user)}`)
    await opened(socket)
    const member = new ReplayMember(options, socket)
    socket.on('message', data => member.#receive(decodeEnvelope(toBytes(data))))
    socket.on('close', (code, reason) => member.#fail(new Error(`${options.user}: connection closed (${code} ${reason})`)))
    try {
      member.#socket.send(encodeEnvelope({ type: 'join', senderId: member.#peerId, peerMetadata: {}, supportedProtocolVersions: ['1'] } as Envelope))
      await member.#until(() => member.#serverId !== '', 'the answer to join')
      member.#sendAutomerge('request')
      await member.#until(() => (member.#doc as { type?: unknown } | undefined)?.type !== undefined && !member.#answerScheduled, 'the segment')
    } catch (error) {
      socket.terminate()
      throw error
    }
    return member
  }

  /** The segment as synced when joining (before `raw()`). */
  get doc(): Automerge.Doc<unknown> {
    if (!this.#doc) throw new Error('the document was dropped')
    return this.#doc
  }

  get failure(): Error | undefined {
    return this.#failure
  }

  /** From now on without Automerge: what the document held becomes heads and known hashes. */
  raw(): void {
    const doc = this.doc
    this.#heads = new HeadsTracker()
    for (const change of Automerge.getAllChanges(doc)) {
      const meta = parseChangeChunk(change)
      this.#heads.learn(meta.hash, meta.deps)
    }
    this.#sharedHeads = this.#syncState.sharedHeads
    this.#lastSent = this.#heads.heads().join()
    this.#doc = undefined
  }

  /** A recorded sync message, sent as is. */
  sendData(data: Uint8Array): void {
    this.#send(data)
  }

  /**
   * A recorded change, in the sync message a client holding it and all it received would
   * send. Sent when due even if this member has not yet received all of its deps (open
   * loop: a server that is behind gets the change early and holds it until they arrive).
   */
  sendChange(bytes: Uint8Array, hash: string, deps: readonly string[]): void {
    this.#heads.learn(hash, deps)
    this.#ownUnshared.push(hash)
    const heads = this.#heads.heads()
    this.#lastSent = heads.join()
    this.#send(clientSyncMessage(heads, this.#sharedHeads, this.#ownUnshared, [bytes]))
  }

  close(): void {
    this.#socket.terminate()
  }

  #send(data: Uint8Array): void {
    if (this.#socket.readyState !== WebSocket.OPEN) return
    this.#socket.send(encodeEnvelope({ type: 'sync', senderId: this.#peerId, targetId: this.#serverId, documentId: this.#options.documentId, data }))
  }

  #receive(frame: Envelope): void {
    if (frame.type === 'peer') this.#serverId = frame.senderId ?? ''
    else if (frame.type === 'doc-unavailable') this.#fail(new Error(`${this.#options.user}: document unavailable`))
    else if (frame.type === 'error') this.#fail(new Error(`${this.#options.user}: server error ${frame.message}`))
    else if ((frame.type === 'sync' || frame.type === 'request') && frame.documentId === this.#options.documentId && frame.data) {
      if (this.#doc) this.#receiveAutomerge(frame.data)
      else this.#receiveRaw(frame.data)
    }
    for (const check of [...this.#waiters]) check()
  }

  #receiveAutomerge(data: Uint8Array): void {
    ;[this.#doc, this.#syncState] = Automerge.receiveSyncMessage(this.#doc!, this.#syncState, data)
    this.onDoc?.(this.#doc)
    this.#scheduleAnswer(() => this.#sendAutomerge('sync'))
  }

  #sendAutomerge(type: 'request' | 'sync'): void {
    if (!this.#doc) return
    const [state, data] = Automerge.generateSyncMessage(this.#doc, this.#syncState)
    this.#syncState = state
    if (!data || this.#socket.readyState !== WebSocket.OPEN) return
    this.#socket.send(encodeEnvelope({ type, senderId: this.#peerId, targetId: this.#serverId, documentId: this.#options.documentId, data }))
  }

  #receiveRaw(data: Uint8Array): void {
    const at = this.#options.clock()
    const message = decodeServerSync(data)
    for (const bytes of message.changes) {
      const meta = parseChangeChunk(bytes)
      if (this.#heads.learn(meta.hash, meta.deps)) this.#options.onChange?.(meta, at)
    }
    if (message.need.length > 0) this.needs++
    if (!this.#options.answer) return
    if (message.heads.every(head => this.#heads.knows(head))) {
      this.#sharedHeads = message.heads
      if (this.#ownUnshared.length > 0) {
        const ours = new Set(this.#heads.heads())
        this.#ownUnshared = this.#ownUnshared.filter(hash => ours.has(hash) && !message.heads.includes(hash))
      }
    }
    // Automerge answers once its heads moved since it last told the server; the answer
    // waits until this process has read every frame already waiting (as AutomergePeer's).
    this.#scheduleAnswer(() => {
      const heads = this.#heads.heads()
      const key = heads.join()
      if (key === this.#lastSent) return
      this.#lastSent = key
      this.#send(clientSyncMessage(heads, this.#sharedHeads, this.#ownUnshared, []))
    })
  }

  #scheduleAnswer(answer: () => void): void {
    if (this.#answerScheduled) return
    this.#answerScheduled = true
    setImmediate(() => {
      this.#answerScheduled = false
      answer()
      for (const check of [...this.#waiters]) check()
    })
  }

  #until(test: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => settle(new Error(`${this.#options.user}: timed out waiting for ${what}`)), WAIT_MS)
      const settle = (error?: Error) => {
        clearTimeout(timer)
        this.#waiters.delete(check)
        if (error) reject(error)
        else resolve()
      }
      const check = () => (this.#failure ? settle(this.#failure) : test() ? settle() : undefined)
      this.#waiters.add(check)
      check()
    })
  }

  #fail(error: Error): void {
    this.#failure ??= error
    for (const check of [...this.#waiters]) check()
  }
}
