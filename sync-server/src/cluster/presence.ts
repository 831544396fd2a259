/**
 * Who is connected anywhere in the cluster, for the notifications owed to members who are
 * not (webhooks/offline-members.ts, push/offline-devices.ts). Judged (until 2026-12-06) by
 * the numbering node's own clients alone, a member connected to another node counted as
 * offline: their phone got a push for a message on the screen in front of them, and the
 * numbering node looked up push devices for every member connected elsewhere, per message
 * (in a 300-member group over three nodes, most of node 1's CPU: docs/cluster.md, "Who is
 * online").
 *
 * Each node keeps a Redis set of the users connected to it, `parley:online:<its bus peer
 * ID>`: a user's first connection adds them, their last one's close removes them, the set
 * is written whole again after every (re)connection to Redis, and its expiry (five
 * heartbeats) is renewed every heartbeat, so a node that dies takes its users offline
 * within that time. Asking is one pipelined SMISMEMBER per other node the bus knows
 * (cluster/bus-adapter.ts `nodes`); each command touches one key, as Redis Cluster needs.
 *
 * While Redis is away, writes are dropped (the next connection writes the set whole) and
 * asking gets no answer: the caller then judges by its own clients, as before, and
 * notifies rather than stays silent. Either is logged once per outage.
 */
import { Redis } from 'ioredis'

export const presenceKey = (node: string): string => `parley:online:${node}`

const isEmpty = (items: Iterable<unknown>): boolean => items[Symbol.iterator]().next().done === true

export interface PresenceOptions {
  readonly url: string
  /** This node's bus peer ID, once the bus has one. */
  readonly self: () => string | undefined
  /** The other nodes the bus knows. */
  readonly nodes: () => readonly string[]
  /** The users connected to this node now. */
  readonly local: () => Iterable<string>
  readonly heartbeatMs: number
  readonly log: { warn(obj: object, msg: string): void }
}

export class ClusterPresence {
  readonly #options: PresenceOptions
  readonly #redis: Redis
  readonly #timer: ReturnType<typeof setInterval>
  /** The set must be written whole (a new connection to Redis, or the bus peer ID came late). */
  #stale = true
  /** This outage was logged (cleared when Redis is back). */
  #warned = false

  constructor(options: PresenceOptions) {
    this.#options = options
    // Nothing queued while Redis is away: the set is written whole when it is back.
    this.#redis = new Redis(options.url, { retryStrategy: times => Math.min(100 * times, 1000), connectTimeout: 2000, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectionName: 'parley-presence' })
    this.#redis.on('error', () => undefined) // the bus logs Redis outages
    this.#redis.on('ready', () => {
      this.#stale = true
      this.#warned = false
      this.#beat()
    })
    this.#timer = setInterval(() => this.#beat(), options.heartbeatMs)
    this.#timer.unref()
  }

  /** A user's first connection to this node opened. */
  connected(user: string): void {
    const key = this.#key()
    if (key) this.#send(this.#redis.sadd(key, user))
  }

  /** A user's last connection to this node closed. */
  disconnected(user: string): void {
    const key = this.#key()
    if (key) this.#send(this.#redis.srem(key, user))
  }

  /** Which of `users` have a connection to another node; undefined while Redis cannot be asked. */
  async elsewhere(users: readonly string[]): Promise<Set<string> | undefined> {
    const self = this.#options.self()
    const nodes = this.#options.nodes().filter(node => node !== self)
    const found = new Set<string>()
    if (users.length === 0 || nodes.length === 0) return found
    const pipeline = this.#redis.pipeline()
    for (const node of nodes) pipeline.smismember(presenceKey(node), ...users)
    try {
      for (const [error, members] of (await pipeline.exec()) ?? []) {
        if (error) throw error
        ;(members as number[]).forEach((member, i) => member === 1 && found.add(users[i]!))
      }
    } catch (error) {
      this.#warn(error, 'cluster presence: could not ask Redis; judging "offline" by this node\'s clients')
      return undefined
    }
    return found
  }

  async close(): Promise<void> {
    clearInterval(this.#timer)
    const key = this.#key()
    if (key && this.#redis.status === 'ready') await this.#redis.del(key).catch(() => undefined)
    this.#redis.disconnect()
  }

  #key(): string | undefined {
    const self = this.#options.self()
    return self === undefined || this.#redis.status !== 'ready' ? undefined : presenceKey(self)
  }

  /** Renews the set's expiry, writing it whole first when it may be stale. */
  #beat(): void {
    const key = this.#key()
    if (!key) return
    const ttl = this.#options.heartbeatMs * 5
    if (!this.#stale) {
      // No key: none connected here, or it expired (this node stalled for five beats).
      const renewed = this.#redis.pexpire(key, ttl).then(found => void (this.#stale = found === 0 && !isEmpty(this.#options.local())))
      return this.#send(renewed)
    }
    this.#stale = false
    const users = [...this.#options.local()]
    const write = this.#redis.multi().del(key)
    if (users.length > 0) write.sadd(key, ...users)
    this.#send(write.pexpire(key, ttl).exec())
  }

  #send(command: Promise<unknown>): void {
    command.catch(error => {
      // Written whole at the next beat once Redis answers again.
      this.#stale = true
      this.#warn(error, 'cluster presence: could not write to Redis')
    })
  }

  #warn(error: unknown, message: string): void {
    if (this.#warned) return
    this.#warned = true
    this.#options.log.warn({ err: error }, message)
  }
}

/**
 * Which of `users` are connected anywhere: to this node (`here`), or to another node as
 * `presence` says. Without it (one node), or while Redis is away, this node's own clients decide.
 */
export async function onlineAnywhere(users: readonly string[], here: (user: string) => boolean, presence: ClusterPresence | undefined): Promise<Set<string>> {
  const online = new Set(users.filter(here))
  const others = users.filter(user => !online.has(user))
  if (!presence || others.length === 0) return online
  for (const user of (await presence.elsewhere(others)) ?? []) online.add(user)
  return online
}
