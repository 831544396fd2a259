/**
 * In-memory links between real automerge-repo Repos, for the tests of the automerge-repo
 * patch (patches/@automerge+automerge-repo+2.5.6.patch): this folder and
 * reconnect-sync-state.test.ts. A message crosses on a later turn of the event loop, as
 * over a socket; each link counts what it carries, can lose messages (`drop`: a dead
 * socket) and can hold them back (a slow link) until released.
 */
import { next as A } from '@automerge/automerge'
import { NetworkAdapter, Repo, type DocumentId, type Message, type PeerId, type PeerMetadata, type RepoConfig } from '@automerge/automerge-repo'

export class LinkEnd extends NetworkAdapter {
  other!: LinkEnd
  link!: Link
  isReady(): boolean {
    return true
  }
  whenReady(): Promise<void> {
    return Promise.resolve()
  }
  connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
    this.peerId = peerId
    this.peerMetadata = peerMetadata ?? {}
  }
  send(message: Message): void {
    if (this.link.drop?.(message)) return
    this.link.carry(this, message)
  }
  disconnect(): void {}
}

export class Link {
  readonly a = new LinkEnd()
  readonly b = new LinkEnd()
  /** Every message either end sent, in order. */
  readonly sent: Message[] = []
  /** Messages this returns true for are lost, unseen by either side. */
  drop: ((message: Message) => boolean) | undefined
  #inFlight = 0
  #held: (() => void)[] | undefined

  constructor() {
    this.a.other = this.b
    this.b.other = this.a
    this.a.link = this.b.link = this
  }

  get inFlight(): number {
    return this.#inFlight
  }

  carry(from: LinkEnd, message: Message): void {
    this.sent.push(message)
    this.#inFlight++
    const deliver = () =>
      setImmediate(() => {
        this.#inFlight--
        from.other.emit('message', message)
      })
    if (this.#held) this.#held.push(deliver)
    else deliver()
  }

  /** Messages sent from now on wait until `release`. */
  hold(): void {
    this.#held ??= []
  }

  release(): void {
    const held = this.#held ?? []
    this.#held = undefined
    for (const deliver of held) deliver()
  }

  /** Both ends learn of each other (the `join` / `peer` handshake). */
  up(): void {
    this.b.emit('peer-candidate', { peerId: this.a.peerId!, peerMetadata: this.a.peerMetadata ?? {} })
    this.a.emit('peer-candidate', { peerId: this.b.peerId!, peerMetadata: this.b.peerMetadata ?? {} })
  }

  /** Both ends notice the connection is gone. */
  down(): void {
    this.b.emit('peer-disconnected', { peerId: this.a.peerId! })
    this.a.emit('peer-disconnected', { peerId: this.b.peerId! })
  }

  /** Messages `from` sent (for `documentId`, if given). */
  messages(from: PeerId, documentId?: DocumentId): Message[] {
    return this.sent.filter(m => m.senderId === from && (documentId === undefined || m.documentId === documentId))
  }
}

/** Whether a sync message carries changes (not just heads, need and have). */
export const carriesChanges = (message: Message): boolean =>
  (message.type === 'sync' || message.type === 'request') && message.data !== undefined && A.decodeSyncMessage(message.data).changes.length > 0

// setImmediate, not setTimeout: a test may fake timers (automerge-repo's 60 s waits) while messages still flow.
export const tick = (): Promise<void> => new Promise(resolve => setImmediate(resolve))

/** Parley's server share config (server.ts): never announce, answer whoever asks; `calls` counts both checks. */
export function serverShareConfig(): { shareConfig: NonNullable<RepoConfig['shareConfig']>; calls: { announce: number; access: number } } {
  const calls = { announce: 0, access: 0 }
  return {
    calls,
    shareConfig: {
      announce: async () => (calls.announce++, false),
      access: async () => (calls.access++, true),
    },
  }
}

/**
 * A server repo (Parley's share config unless `config` says otherwise) and `count` client
 * repos (stock defaults: they announce), each over its own link, all connected.
 */
export async function star(count: number, config: RepoConfig = {}) {
  const { shareConfig, calls } = serverShareConfig()
  const links = Array.from({ length: count }, () => new Link())
  const server = new Repo({ peerId: 'server' as PeerId, network: links.map(link => link.b), shareConfig, ...config })
  const clients = links.map((link, i) => new Repo({ peerId: `client-${i}` as PeerId, network: [link.a] }))
  // The repos hand the adapters their peer IDs asynchronously.
  while (!links.every(link => link.a.peerId && link.b.peerId)) await tick()
  for (const link of links) link.up()
  while (server.peers.length < count || clients.some(client => client.peers.length === 0)) await tick()
  return { server, clients, links, calls, shutdown: () => [server, ...clients].forEach(repo => repo.shutdown()) }
}

/** Resolves once no message has been in flight on `links` for 20 turns of the event loop in a row. */
export async function quiet(links: Link[]): Promise<void> {
  for (let still = 0; still < 20; ) {
    await tick()
    still = links.some(link => link.inFlight > 0) ? 0 : still + 1
  }
}
