/**
 * A deterministic network of Automerge clients (plain docs with their own sync states,
 * as automerge-repo's clients keep them) around one server: the relay over a ChangeLog,
 * or, for the differential test, a server-side Automerge document.
 */
import { next as A } from '@automerge/automerge'
import { splitChunks } from '../../src/relay/change-chunk.ts'
import { ChangeLog } from '../../src/relay/change-log.ts'
import { answer, canForward, createPeerState, forwardable, forwarded, generate, receive, type PeerState } from '../../src/relay/peer-sync.ts'
import { actorId, write, type Doc } from './histories.ts'

export type Outgoing = { to: number; bytes: Uint8Array }[]

export interface Server {
  connect(client: number, staleSharedHeads: readonly string[] | null): Outgoing
  disconnect(client: number): void
  message(client: number, bytes: Uint8Array): Outgoing
  /** The oldest write still out completes (the live relay's acknowledgements wait for them); null when none is out. */
  written(): Outgoing | null
  heads(): readonly string[]
}

/**
 * The relay as relay/hub.ts runs it. With `deferAcknowledgements`, a message that brought
 * changes is answered only once its write completes (`written`), and nothing goes
 * to its sender meanwhile; then one message (peer-sync `answer`) answers everything it sent.
 */
export class RelayServer implements Server {
  readonly log = new ChangeLog()
  readonly peers = new Map<number, PeerState>()
  forwards = 0
  generated = 0
  /** Per client, writes still out; and the writes in the order they complete. */
  readonly #acknowledging = new Map<number, number>()
  readonly #writes: number[] = []

  constructor(readonly deferAcknowledgements = false) {}

  connect(client: number, stale: readonly string[] | null): Outgoing {
    this.peers.set(client, createPeerState(stale ?? []))
    return this.#generate(client)
  }

  disconnect(client: number): void {
    this.peers.delete(client)
    this.#acknowledging.delete(client)
  }

  written(): Outgoing | null {
    const client = this.#writes.shift()
    if (client === undefined) return null
    const waiting = this.#acknowledging.get(client)
    if (waiting === undefined) return []
    if (waiting > 1) {
      this.#acknowledging.set(client, waiting - 1)
      return []
    }
    this.#acknowledging.delete(client)
    const { state, message } = answer(this.log, this.peers.get(client)!)
    this.peers.set(client, state)
    return message ? [{ to: client, bytes: message }] : []
  }

  message(client: number, bytes: Uint8Array): Outgoing {
    const state = this.peers.get(client)
    if (!state) return []
    const previousHeads = this.log.heads()
    const result = receive(this.log, state, bytes)
    this.peers.set(client, result.state)
    const out: Outgoing = []
    if (result.appended.accepted.length > 0) {
      const forward = forwardable(this.log, result.appended.accepted, previousHeads)
      for (const [peer, peerState] of this.peers) {
        if (peer === client || this.#acknowledging.has(peer)) continue
        if (canForward(peerState, forward)) {
          this.forwards++
          this.peers.set(peer, forwarded(peerState, forward))
          out.push({ to: peer, bytes: forward.message })
        } else {
          out.push(...this.#generate(peer))
        }
      }
    }
    if (this.deferAcknowledgements && result.appended.accepted.length > 0) {
      this.#acknowledging.set(client, (this.#acknowledging.get(client) ?? 0) + 1)
      this.#writes.push(client)
    }
    out.push(...this.#generate(client))
    return out
  }

  heads(): readonly string[] {
    return this.log.heads()
  }

  #generate(client: number): Outgoing {
    if (this.#acknowledging.has(client)) return []
    const { state, message } = generate(this.log, this.peers.get(client)!)
    this.generated++
    this.peers.set(client, state)
    return message ? [{ to: client, bytes: message }] : []
  }
}

/** Automerge's own sync on a server-side document: what the relay replaces. */
export class AutomergeServer implements Server {
  doc: Doc = A.init()
  readonly peers = new Map<number, A.SyncState>()

  connect(client: number, stale: readonly string[] | null): Outgoing {
    // A stale state is what Automerge keeps across sessions: its shared heads.
    const state = stale ? A.decodeSyncState(A.encodeSyncState({ ...A.initSyncState(), sharedHeads: [...stale] } as A.SyncState)) : A.initSyncState()
    this.peers.set(client, state)
    return this.#generate(client)
  }

  disconnect(client: number): void {
    this.peers.delete(client)
  }

  written(): null {
    return null
  }

  message(client: number, bytes: Uint8Array): Outgoing {
    const state = this.peers.get(client)
    if (!state) return []
    const before = A.getHeads(this.doc)
    const [doc, next] = A.receiveSyncMessage(this.doc, state, bytes)
    this.doc = doc
    this.peers.set(client, next)
    const out = this.#generate(client)
    if (A.getHeads(doc).join() !== before.join()) for (const peer of this.peers.keys()) if (peer !== client) out.push(...this.#generate(peer))
    return out
  }

  heads(): readonly string[] {
    return A.getHeads(this.doc)
  }

  #generate(client: number): Outgoing {
    const [state, message] = A.generateSyncMessage(this.doc, this.peers.get(client)!)
    this.peers.set(client, state)
    return message ? [{ to: client, bytes: message }] : []
  }
}

export class Client {
  doc: Doc
  sync: A.SyncState = A.initSyncState()
  online = false
  /** Distinct change hashes that arrived in messages, and how many arrived in all. */
  readonly received = new Set<string>()
  receivedTotal = 0
  readonly authored = new Set<string>()

  constructor(readonly id: number) {
    this.doc = A.init({ actor: actorId(id) })
  }

  write(label: string): Uint8Array | null {
    this.doc = write(this.doc, label)
    this.authored.add(A.decodeChange(A.getLastLocalChange(this.doc)!).hash)
    return this.online ? this.generate() : null
  }

  receive(bytes: Uint8Array): Uint8Array | null {
    for (const chunk of A.decodeSyncMessage(bytes).changes) {
      // Automerge's own sync may send a whole document chunk (type 0) to a peer with nothing.
      // and concatenates several change chunks in one entry.
      const changes = chunk[8] === 0 ? A.getAllChanges(A.load(chunk)) : splitChunks(chunk)
      for (const change of changes) {
        this.received.add(A.decodeChange(change).hash)
        this.receivedTotal++
      }
    }
    const [doc, sync] = A.receiveSyncMessage(this.doc, this.sync, bytes)
    this.doc = doc
    this.sync = sync
    return this.generate()
  }

  generate(): Uint8Array | null {
    const [sync, message] = A.generateSyncMessage(this.doc, this.sync)
    this.sync = sync
    return message
  }

  /** A new session: a fresh sync state, or the persisted one (only its shared heads survive). */
  reconnect(stale: boolean): void {
    this.sync = stale ? A.decodeSyncState(A.encodeSyncState(this.sync)) : A.initSyncState()
    this.online = true
  }
}

export type Action =
  | { kind: 'write'; client: number }
  | { kind: 'deliver'; client: number; toServer: boolean; duplicate: boolean }
  | { kind: 'drop'; client: number; toServer: boolean }
  | { kind: 'disconnect'; client: number }
  | { kind: 'reconnect'; client: number; staleClient: boolean; staleServer: boolean }
  | { kind: 'written' }

/** Clients, a server and the messages between them, one queue per direction per client. */
export class Network {
  readonly clients: Client[]
  readonly toServer: Uint8Array[][]
  readonly toClient: Uint8Array[][]
  writes = 0
  /** Messages delivered, both directions. */
  delivered = 0

  constructor(
    readonly server: Server,
    count: number,
  ) {
    this.clients = Array.from({ length: count }, (_, i) => new Client(i))
    this.toServer = this.clients.map(() => [])
    this.toClient = this.clients.map(() => [])
  }

  apply(action: Action): void {
    if (action.kind === 'written') return this.#route(this.server.written() ?? [])
    const client = this.clients[action.client]!
    switch (action.kind) {
      case 'write': {
        const message = client.write(`c${action.client}:${this.writes++}`)
        if (message) this.toServer[action.client]!.push(message)
        return
      }
      case 'deliver': {
        const queue = action.toServer ? this.toServer[action.client]! : this.toClient[action.client]!
        const bytes = action.duplicate ? queue[0] : queue.shift()
        if (!bytes) return
        this.delivered++
        if (action.toServer) this.#route(this.server.message(action.client, bytes))
        else {
          const reply = client.receive(bytes)
          if (reply && client.online) this.toServer[action.client]!.push(reply)
        }
        return
      }
      case 'drop':
        ;(action.toServer ? this.toServer : this.toClient)[action.client]!.shift()
        return
      case 'disconnect':
        client.online = false
        this.toServer[action.client] = []
        this.toClient[action.client] = []
        this.server.disconnect(action.client)
        return
      case 'reconnect': {
        this.apply({ kind: 'disconnect', client: action.client })
        client.reconnect(action.staleClient)
        const first = client.generate()
        if (first) this.toServer[action.client]!.push(first)
        const stale = action.staleServer ? (A.decodeSyncState(A.encodeSyncState(client.sync)).sharedHeads ?? []) : null
        this.#route(this.server.connect(action.client, stale))
        return
      }
    }
  }

  /** Delivers everything, in order, until no message is left; false if it never settles. */
  settle(maxMessages = 20_000): boolean {
    for (let n = 0; n < maxMessages; n++) {
      const index = this.clients.findIndex((_, i) => this.toServer[i]!.length > 0 || this.toClient[i]!.length > 0)
      if (index < 0) {
        // Nothing in flight: the writes still out complete, one at a time.
        const answers = this.server.written()
        if (answers === null) return true
        this.#route(answers)
        continue
      }
      const toServer = this.toServer[index]!.length > 0
      this.apply({ kind: 'deliver', client: index, toServer, duplicate: false })
    }
    return false
  }

  #route(out: Outgoing): void {
    for (const { to, bytes } of out) if (this.clients[to]!.online) this.toClient[to]!.push(bytes)
  }
}
