/**
 * An automerge-repo network adapter over Redis pub/sub: every node of a cluster is an
 * ordinary automerge-repo peer of every other, with no socket between them. One
 * publisher and one subscriber connection per node (redis-link.ts); frames and channels
 * in bus-frames.ts.
 *
 * - Discovery: a node says `hello` on the cluster channel every heartbeat; a newcomer
 *   is answered at once on its node channel. A node not heard from for `peerTimeoutMs`
 *   is dropped; a clean disconnect says `bye`.
 * - Sessions: a node whose link to Redis broke may have missed frames, so it comes back
 *   under a new epoch; the others then end its old session and begin a new one, and
 *   automerge-repo re-syncs every shared document (docs/cluster.md, "Sessions").
 * - Messages: to one node on its node channel. The same message for several nodes in
 *   one tick (a change fanned out, typing) is published once on the document's channel,
 *   when each of those nodes is known to listen there: a node subscribes to a document's
 *   channel before it sends anything about that document.
 * - Order: frames from one node reach another in the order published (one publisher
 *   connection, one subscriber connection), and are handed to the repo in that order.
 */
import { NetworkAdapter, type Message, type PeerId, type PeerMetadata } from '@automerge/automerge-repo'
import { BoundedMap } from '@parley/core'
import { busClock, channels, decodeFrame, encodeFrame, type BusFrame, type Channels } from './bus-frames.ts'
import { groupIdentical } from './outbox.ts'
import { PeerTable } from './peer-table.ts'
import { QueryBook } from './queries.ts'
import { RedisLink } from './redis-link.ts'

export interface BusHooks {
  /** Data to send along with a message, that the receiving node needs before its repo sees it. */
  annotate?(message: Message): unknown
  /** Takes in what the sending node attached, before the repo sees the message. */
  absorb?(message: Message, extra: unknown): void | Promise<void>
}

export interface BusMetricsSink {
  /** `kind`: the frame's kind (`hello` for heartbeats, `msg`/`fan` for repo messages, …). */
  published(bytes: number, kind: string): void
  /** Every frame the subscriber got, ours and other nodes' on shared channels (`unknown`: not a Parley frame). */
  received(bytes: number, kind: string): void
  /** A frame not published because the link to Redis was down. */
  dropped(): void
  /** Seconds from a frame's publication to its arrival. */
  lag(seconds: number): void
  reconnecting(): void
  peers(count: number): void
}

export interface BusLogger {
  info(object: object, message: string): void
  warn(object: object, message: string): void
}

export interface BusAdapterOptions {
  /** `redis://HOST:PORT` (any URL ioredis accepts). */
  url: string
  /** Channel name prefix: several clusters can share one Redis. Default `parley`. */
  prefix?: string
  /** How often a node says hello. Default 1,000 ms. */
  heartbeatMs?: number
  /** A node not heard from for this long is dropped. Default five heartbeats. */
  peerTimeoutMs?: number
  hooks?: BusHooks
  metrics?: BusMetricsSink
  log?: BusLogger
}

/** Other nodes' clients remembered as authors of relayed ephemeral messages. */
const MAX_RELAYED_AUTHORS = 10_000
/** Longest wait for the first connection before the repo may go on without the bus. */
const FIRST_CONNECT_MS = 3000

export class RedisBusAdapter extends NetworkAdapter {
  readonly #options: Required<Pick<BusAdapterOptions, 'url' | 'heartbeatMs' | 'peerTimeoutMs'>> & BusAdapterOptions
  readonly #channels: Channels
  readonly #peers = new PeerTable()
  readonly #queries = new QueryBook()
  readonly #answerers = new Map<string, (body: unknown, from: PeerId) => unknown>()
  /** Per document, the nodes known to listen on its channel (they sent us something about it). */
  readonly #listeners = new Map<string, Set<PeerId>>()
  /** Other nodes' clients whose ephemeral messages were relayed here (the most recent, bounded). */
  readonly #relayedAuthors = new BoundedMap<PeerId, true>(MAX_RELAYED_AUTHORS)
  /** Document channels this node subscribed to (or is subscribing to). */
  readonly #docChannels = new Map<string, Promise<void>>()
  #link: RedisLink | undefined
  #epoch = Date.now()
  #heartbeat: ReturnType<typeof setInterval> | undefined
  #outbox: Message[] = []
  #outbound: Promise<void> = Promise.resolve()
  #inbound: Promise<void> = Promise.resolve()
  #ready = false
  #resolveReady!: () => void
  readonly #readyPromise = new Promise<void>(resolve => (this.#resolveReady = resolve))

  constructor(options: BusAdapterOptions) {
    super()
    const heartbeatMs = options.heartbeatMs ?? 1000
    this.#options = { ...options, heartbeatMs, peerTimeoutMs: options.peerTimeoutMs ?? heartbeatMs * 5 }
    this.#channels = channels(options.prefix ?? 'parley')
  }

  isReady(): boolean {
    return this.#ready
  }

  /** Once the first connection found the other nodes, failed, or took too long. */
  whenReady(): Promise<void> {
    return this.#readyPromise
  }

  /** Did a node relay an ephemeral message (typing) of this peer, one of its clients, lately? */
  relayedAuthor(peerId: PeerId): boolean {
    return this.#relayedAuthors.has(peerId)
  }

  /** Is this peer a node of the cluster (in a live session)? */
  isNode(peerId: PeerId): boolean {
    return this.#peers.has(peerId)
  }

  get nodes(): PeerId[] {
    return this.#peers.ids()
  }

  /** Whether the link to Redis is up. */
  get connected(): boolean {
    return this.#link?.up ?? false
  }

  connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
    this.peerId = peerId
    this.peerMetadata = peerMetadata ?? {}
    // A new session for everyone, even if our goodbye of the last one was lost.
    this.#epoch++
    const link = new RedisLink(this.#options.url)
    this.#link = link
    link.on('up', () => this.#up())
    link.on('down', () => this.#down())
    link.on('frame', (_channel, bytes) => this.#receive(bytes))
    link.on('reconnecting', () => this.#options.metrics?.reconnecting())
    link.on('error', error => {
      this.#options.log?.warn({ err: error }, 'cluster bus: Redis unreachable; serving local clients, retrying')
      this.#markReady()
    })
    void link.subscribe([this.#channels.cluster, this.#channels.node(peerId)])
    link.open()
    this.#heartbeat = setInterval(() => this.#beat(), this.#options.heartbeatMs)
    this.#heartbeat.unref()
    setTimeout(() => this.#markReady(), FIRST_CONNECT_MS).unref()
  }

  send(message: Message): void {
    if (!this.#link) return
    if (this.#outbox.push(message) === 1) queueMicrotask(() => this.#flush())
  }

  /** Says goodbye and closes both connections (without waiting: see close()). */
  disconnect(): void {
    void this.close()
  }

  /** Says goodbye, ends every session, and closes both connections. */
  async close(): Promise<void> {
    const link = this.#link
    if (!link) return
    this.#link = undefined
    clearInterval(this.#heartbeat)
    this.#outbox = []
    this.#publish(link, this.#channels.cluster, { k: 'bye', from: this.peerId!, epoch: this.#epoch, t: busClock() })
    this.#dropAll()
    this.#docChannels.clear()
    await link.close()
  }

  /** Asks every node; resolves with the answers once all have answered, `enough` holds, or the time is up. */
  query(topic: string, body: unknown, options: { timeoutMs: number; enough?: (answers: unknown[]) => boolean }): Promise<unknown[]> {
    const link = this.#link
    const expected = this.#peers.ids()
    if (!link?.up || expected.length === 0) return Promise.resolve([])
    const { id, answers } = this.#queries.open(expected, options.timeoutMs, options.enough)
    this.#publish(link, this.#channels.cluster, { k: 'query', from: this.peerId!, id, topic, body, t: busClock() })
    return answers
  }

  /** Answers other nodes' queries on `topic`. */
  answer(topic: string, answerer: (body: unknown, from: PeerId) => unknown): void {
    this.#answerers.set(topic, answerer)
  }

  #up(): void {
    this.#options.log?.info({ peerId: this.peerId, epoch: this.#epoch }, 'cluster bus: connected to Redis')
    this.#say()
    // Replies to our hello come within a round trip; then the repo may start asking nodes.
    setTimeout(() => this.#markReady(), Math.min(200, this.#options.heartbeatMs)).unref()
  }

  /** Whatever we publish from now on may follow a gap: every node must start over with us. */
  #down(): void {
    this.#epoch++
    this.#dropAll()
    this.#options.log?.warn({ peerId: this.peerId }, 'cluster bus: lost Redis; serving local clients, reconnecting')
  }

  #beat(): void {
    const link = this.#link
    if (!link?.up) return
    this.#say()
    for (const peerId of this.#peers.expire(Date.now() - this.#options.peerTimeoutMs)) this.#ended(peerId, 'stopped beating')
  }

  /** Hello to every node (a heartbeat), or to one node: a reply that starts a fresh session. */
  #say(to?: PeerId): void {
    const link = this.#link
    if (!link) return
    const hello: BusFrame = { k: 'hello', from: this.peerId!, epoch: this.#epoch, meta: this.peerMetadata ?? {}, t: busClock() }
    if (to === undefined) this.#publish(link, this.#channels.cluster, hello)
    else this.#publish(link, this.#channels.node(to), { ...hello, reply: true, fresh: true })
  }

  #receive(bytes: Buffer): void {
    const frame = decodeFrame(bytes)
    this.#options.metrics?.received(bytes.byteLength, frame?.k ?? 'unknown')
    if (!frame || frame.from === this.peerId || !this.#link) return
    this.#options.metrics?.lag(Math.max(0, busClock() - frame.t) / 1000)
    const now = Date.now()
    switch (frame.k) {
      case 'hello':
        return this.#hello(frame, now)
      case 'bye':
        if (this.#peers.remove(frame.from, frame.epoch)) this.#ended(frame.from, 'said goodbye')
        return
      case 'msg':
        if (frame.m.targetId !== this.peerId) return
        return this.#accept(frame.from, frame.m, frame.x, now)
      case 'fan':
        if (!frame.to.includes(this.peerId!)) return
        return this.#accept(frame.from, { ...frame.m, targetId: this.peerId! } as Message, frame.x, now)
      case 'query':
        return this.#answerQuery(frame)
      case 'answer':
        return this.#queries.answer(frame.id, frame.from, frame.body)
    }
  }

  #hello(frame: Extract<BusFrame, { k: 'hello' }>, now: number): void {
    const outcome = this.#peers.hello(frame.from, frame.epoch, frame.meta, now)
    // A heartbeat of a session both sides already have.
    if (outcome === 'known' && !frame.fresh) return
    // A node in a new epoch, or one that (re)started its session with us, e.g. after
    // dropping us for silence: our side of the session starts over too.
    if (outcome !== 'new') this.#ended(frame.from, outcome === 'restarted' ? 'reconnected to Redis' : 'started over with us')
    this.emit('peer-candidate', { peerId: frame.from, peerMetadata: frame.meta })
    this.#options.metrics?.peers(this.#peers.size)
    // Answer a newcomer at once, saying that our session with it is a new one.
    if (!frame.reply) this.#say(frame.from)
  }

  #accept(from: PeerId, message: Message, extra: unknown, now: number): void {
    // Frames of a session that ended (or never began) are dropped: the next one re-syncs.
    // Ephemeral messages (typing) keep their author's sender ID as each peer relays them.
    if (!this.#peers.has(from) || (message.senderId !== from && message.type !== 'ephemeral')) return
    this.#peers.seen(from, now)
    const documentId = (message as { documentId?: string }).documentId
    if (documentId !== undefined) this.#listening(documentId, from)
    if (message.senderId !== from) this.#relayedAuthors.set(message.senderId, true)
    const absorb = this.#options.hooks?.absorb
    this.#inbound = this.#inbound
      .then(async () => {
        if (extra !== undefined && absorb) await absorb(message, extra)
        if (this.#peers.has(from)) this.emit('message', message)
      })
      .catch(error => this.#options.log?.warn({ err: error, from }, 'cluster bus: message from a node could not be taken in'))
  }

  #answerQuery(frame: Extract<BusFrame, { k: 'query' }>): void {
    const answerer = this.#answerers.get(frame.topic)
    if (!answerer) return
    Promise.resolve()
      .then(() => answerer(frame.body, frame.from))
      .then(body => {
        const link = this.#link
        if (link) this.#publish(link, this.#channels.node(frame.from), { k: 'answer', from: this.peerId!, id: frame.id, body: body ?? null, t: busClock() })
      })
      .catch(error => this.#options.log?.warn({ err: error, topic: frame.topic }, 'cluster bus: could not answer a query'))
  }

  #flush(): void {
    const batch = this.#outbox
    this.#outbox = []
    this.#outbound = this.#outbound.then(() => this.#publishBatch(batch)).catch(error => this.#options.log?.warn({ err: error }, 'cluster bus: could not publish'))
  }

  async #publishBatch(batch: Message[]): Promise<void> {
    for (const { message, targets } of groupIdentical(batch)) {
      const link = this.#link
      if (!link) return
      const documentId = (message as { documentId?: string }).documentId
      if (documentId !== undefined) await this.#subscribeDocument(link, documentId)
      const extra = await this.#options.hooks?.annotate?.(message)
      const x = extra === undefined ? {} : { x: extra }
      const listeners = documentId === undefined ? undefined : this.#listeners.get(documentId)
      if (documentId !== undefined && targets.length > 1 && targets.every(target => listeners?.has(target))) {
        const { targetId: _, ...shared } = message
        this.#publish(link, this.#channels.doc(documentId), { k: 'fan', from: this.peerId!, to: targets, m: shared, ...x, t: busClock() })
      } else {
        for (const targetId of targets) this.#publish(link, this.#channels.node(targetId), { k: 'msg', from: this.peerId!, m: { ...message, targetId }, ...x, t: busClock() })
      }
    }
  }

  /** Subscribes to a document's channel before the first frame about it goes out. */
  #subscribeDocument(link: RedisLink, documentId: string): Promise<void> {
    let subscribed = this.#docChannels.get(documentId)
    if (!subscribed) {
      subscribed = link.subscribe([this.#channels.doc(documentId)]).catch(() => undefined)
      this.#docChannels.set(documentId, subscribed)
    }
    return subscribed
  }

  #listening(documentId: string, peerId: PeerId): void {
    let listeners = this.#listeners.get(documentId)
    if (!listeners) this.#listeners.set(documentId, (listeners = new Set()))
    listeners.add(peerId)
  }

  #publish(link: RedisLink, channel: string, frame: BusFrame): void {
    const bytes = encodeFrame(frame)
    if (link.publish(channel, bytes)) this.#options.metrics?.published(bytes.byteLength, frame.k)
    else this.#options.metrics?.dropped()
  }

  #dropAll(): void {
    for (const peerId of this.#peers.clear()) this.#ended(peerId, 'link to Redis lost')
  }

  /** Ends a session: tells the repo, forgets what we knew of it. */
  #ended(peerId: PeerId, reason: string): void {
    for (const listeners of this.#listeners.values()) listeners.delete(peerId)
    this.#queries.forget(peerId)
    this.#options.metrics?.peers(this.#peers.size)
    this.#options.log?.info({ peerId, reason }, 'cluster bus: node session ended')
    this.emit('peer-disconnected', { peerId })
  }

  #markReady(): void {
    if (this.#ready) return
    this.#ready = true
    this.#resolveReady()
  }
}
