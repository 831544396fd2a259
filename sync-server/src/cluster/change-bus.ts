/**
 * Segment changes between nodes by interest (issue 16, item 2): the Redis side of the
 * relay core's bus port (relay/bus.ts). One channel per conversation,
 * `<prefix>:{<conversationId>}:changes`: the conversation ID is the name's hash tag, so on
 * Redis Cluster every frame of a conversation maps to one slot, the layout sharded pub/sub
 * (SPUBLISH/SSUBSCRIBE) needs; on one Redis it is plain PUBLISH/SUBSCRIBE. A node is
 * subscribed to a conversation only while segments of it have peers here (counted per
 * `join`/`leave`), on its own two connections (redis-link.ts), apart from the repo bus.
 *
 * The event index joins a conversation too while this node has HTTP waiters on it (a long
 * poll, an SSE stream: events/event-index.ts `follow`), and hears of every frame of it
 * (`onNews`), whether or not the hub holds the segment: the index reads the events'
 * numbers back from the shared store, now and again shortly after (the frame is published
 * before they are written: events/news-rechecks.ts).
 *
 * A frame is one CBOR map: the publishing node, the segment, its raw change chunks and the
 * publisher's clock. No offset: a change names the changes it depends on by hash, which
 * is how a receiver sees a gap (docs/cluster.md, "Segments over the bus").
 */
import { encodeFrame } from '../network/frame-encoder.ts'
import { randomBytes } from 'node:crypto'
import type { EventFeed } from '../events/event-index.ts'
import type { RefillReason, SegmentBus, SegmentBusHandlers } from '../relay/bus.ts'
import type { BusLogger } from './bus-adapter.ts'
import { busClock, decodeObject } from './bus-frames.ts'
import type { ChangeBusMetrics } from './change-bus-metrics.ts'
import { RedisLink } from './redis-link.ts'

/** How far into a frame the publisher's ID is looked for: a map header, `from`, the 16-character ID. */
const OWN_ID_WITHIN = 32

interface ChangeFrame {
  readonly from: string
  readonly s: string
  readonly c: Uint8Array[]
  readonly t: number
}

export interface RedisChangeBusOptions {
  readonly url: string
  /** Channel name prefix, as the repo bus's (bus-frames.ts). Default `parley`. */
  readonly prefix?: string
  readonly metrics?: ChangeBusMetrics
  readonly log?: BusLogger
}

export class RedisChangeBus implements SegmentBus, EventFeed {
  readonly #options: RedisChangeBusOptions
  readonly #prefix: string
  readonly #link: RedisLink
  /** This process's frames come back on the channels it listens to: skipped by this ID. */
  readonly #node = randomBytes(8).toString('hex')
  /** The ID's bytes, found near a frame's start (its first field) without decoding it. */
  readonly #nodeBytes = Buffer.from(this.#node)
  /** Per conversation, how many segments with peers here want it. */
  readonly #interest = new Map<string, number>()
  #handlers: SegmentBusHandlers | undefined
  readonly #news: Array<(conversationId: string) => void> = []

  constructor(options: RedisChangeBusOptions) {
    this.#options = options
    this.#prefix = options.prefix ?? 'parley'
    this.#link = new RedisLink(options.url)
    this.#link.on('frame', (channel, bytes) => this.#receive(channel, bytes))
    // Back after a drop (or the first connect): whatever was published meanwhile is in storage.
    this.#link.on('down', () => options.metrics?.connected(false))
    this.#link.on('up', () => {
      options.metrics?.connected(true)
      for (const conversation of this.#interest.keys()) this.#listening(conversation)
    })
    this.#link.on('reconnecting', () => options.metrics?.reconnecting())
    this.#link.on('error', error => options.log?.warn({ err: error }, 'segment bus: Redis unreachable; serving local clients, retrying'))
    this.#link.open()
  }

  attach(handlers: SegmentBusHandlers): void {
    this.#handlers = handlers
  }

  /** Told of every frame from another node, and whenever this node starts to hear a conversation again. */
  onNews(listener: (conversationId: string) => void): void {
    this.#news.push(listener)
  }

  channel(conversationId: string): string {
    return `${this.#prefix}:{${conversationId}}:changes`
  }

  join(conversationId: string): void {
    const count = (this.#interest.get(conversationId) ?? 0) + 1
    this.#interest.set(conversationId, count)
    if (count > 1) return
    this.#options.metrics?.subscriptions(this.#interest.size)
    void this.#link.subscribe([this.channel(conversationId)]).then(() => {
      // Subscribed while up: hears from now on. (While down, 'up' says so once subscribed.)
      if (this.#interest.has(conversationId) && this.#link.hears(this.channel(conversationId))) this.#listening(conversationId)
    })
  }

  leave(conversationId: string): void {
    const count = (this.#interest.get(conversationId) ?? 0) - 1
    if (count > 0) {
      this.#interest.set(conversationId, count)
      return
    }
    this.#interest.delete(conversationId)
    this.#options.metrics?.subscriptions(this.#interest.size)
    void this.#link.unsubscribe([this.channel(conversationId)])
  }

  hears(conversationId: string): boolean {
    return this.#interest.has(conversationId) && this.#link.hears(this.channel(conversationId))
  }

  publish(conversationId: string, segmentId: string, changes: readonly Uint8Array[]): void {
    const frame: ChangeFrame = { from: this.#node, s: segmentId, c: [...changes], t: busClock() }
    const encoded = encodeFrame(frame)
    const bytes = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength)
    if (this.#link.publish(this.channel(conversationId), bytes)) this.#options.metrics?.published(bytes.byteLength)
    else this.#options.metrics?.dropped()
  }

  refilled(reason: RefillReason): void {
    this.#options.metrics?.refilled(reason)
  }

  /** Subscribed conversation channels. */
  get subscriptions(): number {
    return this.#interest.size
  }

  close(): Promise<void> {
    this.#interest.clear()
    return this.#link.close()
  }

  #receive(channel: string, bytes: Buffer): void {
    // Every frame this node publishes on a conversation it listens to comes back: one per
    // message it accepts. `from` is the frame's first field, so its ID is within the first
    // bytes; skipping there spares decoding them (a miss here still decodes and checks `from`).
    if (bytes.subarray(0, OWN_ID_WITHIN).includes(this.#nodeBytes)) return
    const conversationId = this.#conversationOf(channel)
    if (conversationId === undefined) return
    const frame = decodeChangeFrame(bytes)
    if (!frame || frame.from === this.#node) return
    this.#options.metrics?.received(bytes.byteLength, Math.max(0, busClock() - frame.t) / 1000)
    this.#handlers?.changes(conversationId, frame.s, frame.c)
    for (const listener of this.#news) listener(conversationId)
  }

  /** Hears every change of the conversation from now on: what was published before is in storage. */
  #listening(conversationId: string): void {
    this.#handlers?.listening(conversationId)
    for (const listener of this.#news) listener(conversationId)
  }

  #conversationOf(channel: string): string | undefined {
    const head = `${this.#prefix}:{`
    const tail = '}:changes'
    if (!channel.startsWith(head) || !channel.endsWith(tail)) return undefined
    return channel.slice(head.length, -tail.length)
  }
}

function decodeChangeFrame(bytes: Uint8Array): ChangeFrame | undefined {
  const frame = decodeObject(bytes)
  if (!frame) return undefined
  const { from, s, c, t } = frame as Partial<ChangeFrame>
  if (typeof from !== 'string' || typeof s !== 'string' || typeof t !== 'number' || !Array.isArray(c) || !c.every(item => item instanceof Uint8Array)) return undefined
  return frame as ChangeFrame
}
