/**
 * The node's two Redis connections: one that publishes, one that subscribes (a Redis
 * connection in subscriber mode can do nothing else). The link is "up" once both are
 * connected and every channel is subscribed; it goes "down" as soon as either drops.
 * ioredis reconnects by itself; we resubscribe ourselves, so that "up" means subscribed.
 *
 * Nothing is queued while the link is down: publishing then returns false and the frame
 * is dropped. The bus adapter starts a new session when the link comes back, and the
 * automerge sync protocol works out what the other nodes missed.
 */
import { EventEmitter } from 'node:events'
import { Redis, type RedisOptions } from 'ioredis'

export interface RedisLinkEvents {
  up: []
  down: []
  /** ioredis is trying to connect again after a drop. */
  reconnecting: []
  frame: [channel: string, bytes: Buffer]
  /** The first error of an outage (not every retry's). */
  error: [error: Error]
}

/** Channels per SUBSCRIBE command when resubscribing many document channels. */
const SUBSCRIBE_BATCH = 1000

export class RedisLink extends EventEmitter<RedisLinkEvents> {
  readonly #url: string
  readonly #channels = new Set<string>()
  /** Channels the current subscriber connection has confirmed. */
  readonly #subscribed = new Set<string>()
  #pub: Redis | undefined
  #sub: Redis | undefined
  #pubReady = false
  #subReady = false
  #up = false
  #erred = false
  /** The publisher's socket holds writes until this turn of the event loop has done its I/O. */
  #corked = false

  constructor(url: string) {
    super()
    this.#url = url
  }

  get up(): boolean {
    return this.#up
  }

  open(): void {
    const common: RedisOptions = {
      // Back off to at most a second between attempts: a restarted Redis is found quickly.
      retryStrategy: times => Math.min(100 * times, 1000),
      connectTimeout: 2000,
      lazyConnect: false,
    }
    // Frames are never queued or retried: a stale frame after a reconnect only confuses.
    const pub = new Redis(this.#url, { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectionName: 'parley-bus-pub' })
    const sub = new Redis(this.#url, { ...common, autoResubscribe: false, maxRetriesPerRequest: 0, connectionName: 'parley-bus-sub' })
    this.#pub = pub
    this.#sub = sub
    pub.on('ready', () => {
      this.#pubReady = true
      this.#update()
    })
    sub.on('ready', () => void this.#resubscribe(sub))
    for (const [connection, which] of [
      [pub, 'pub'],
      [sub, 'sub'],
    ] as const) {
      connection.on('close', () => {
        if (which === 'pub') this.#pubReady = false
        else this.#subReady = false
        this.#update()
      })
      connection.on('reconnecting', () => this.emit('reconnecting'))
      connection.on('error', error => {
        if (this.#erred) return
        this.#erred = true
        this.emit('error', error)
      })
    }
    sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.emit('frame', channel.toString(), message))
  }

  /** Publishes one frame; false (dropped) while the link is down. */
  publish(channel: string, bytes: Buffer): boolean {
    if (!this.#up || !this.#pub) return false
    this.#cork(this.#pub)
    this.#pub.publish(channel, bytes).catch(() => undefined)
    return true
  }

  /**
   * Frames published in one turn of the event loop leave in one socket write, after the
   * turn's I/O callbacks (setImmediate): messages that arrive together on several clients'
   * sockets are read in one poll phase, and their frames go to Redis together. Uncorked at
   * the end of each tick instead (until 2026-12-07), a burst of ten messages on ten
   * sockets, as the cluster benchmark's rounds send, took 0.94 socket writes per frame;
   * now 0.43 (counted over `npm run bench:cluster -- --quick --only capacity`). A message
   * arriving alone waits for nothing more than before: the turn ends after it.
   */
  #cork(pub: Redis): void {
    if (this.#corked) return
    const stream = pub.stream
    this.#corked = true
    stream.cork()
    setImmediate(() => {
      this.#corked = false
      stream.uncork()
    })
  }

  /** Subscribes now if up, else when the link comes back; resolves once Redis confirmed. */
  async subscribe(channels: string[]): Promise<void> {
    const fresh = channels.filter(channel => !this.#channels.has(channel))
    for (const channel of fresh) this.#channels.add(channel)
    // While (re)subscribing after a connect, #resubscribe picks new channels up too.
    if (fresh.length > 0 && this.#subReady) await this.#confirm(this.#sub!, fresh)
  }

  /** Stops listening on these channels (now, or simply not again after a reconnect). */
  async unsubscribe(channels: string[]): Promise<void> {
    const gone = channels.filter(channel => this.#channels.delete(channel))
    for (const channel of gone) this.#subscribed.delete(channel)
    if (gone.length > 0 && this.#subReady) await this.#sub!.unsubscribe(...gone).catch(() => undefined)
  }

  /** Has the current subscriber connection confirmed this channel (and is the link up)? */
  hears(channel: string): boolean {
    return this.#up && this.#subscribed.has(channel)
  }

  async close(): Promise<void> {
    const connections = [this.#pub, this.#sub].filter(connection => connection !== undefined)
    this.#pub = this.#sub = undefined
    this.#pubReady = this.#subReady = false
    this.#up = false
    this.#channels.clear()
    await Promise.all(connections.map(connection => connection.quit().catch(() => connection.disconnect())))
  }

  /** Flushes what was published before this call (everything before it reached Redis). */
  async flush(): Promise<void> {
    await this.#pub?.ping().catch(() => undefined)
  }

  async #confirm(sub: Redis, channels: string[]): Promise<void> {
    await sub.subscribe(...channels)
    for (const channel of channels) if (this.#channels.has(channel)) this.#subscribed.add(channel)
  }

  /** Subscribes everything on a fresh connection, including channels added meanwhile. */
  async #resubscribe(sub: Redis): Promise<void> {
    this.#subscribed.clear()
    try {
      for (;;) {
        const missing = [...this.#channels].filter(channel => !this.#subscribed.has(channel)).slice(0, SUBSCRIBE_BATCH)
        if (missing.length === 0) break
        await this.#confirm(sub, missing)
      }
    } catch {
      return // the connection dropped again; the next 'ready' retries
    }
    if (this.#sub !== sub) return
    this.#subReady = true
    this.#update()
  }

  #update(): void {
    const up = this.#pubReady && this.#subReady
    if (up === this.#up) return
    this.#up = up
    if (up) this.#erred = false
    this.emit(up ? 'up' : 'down')
  }
}
