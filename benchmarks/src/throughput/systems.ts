/**
 * The systems the throughput benchmark compares, in table order. Servers are the latency
 * benchmark's (latency/systems/); members (one sender, one receiver per conversation) are
 * the hot-conversation benchmark's (hot-conversation/members.ts); what is new here is
 * making many conversations at once.
 */
import { SignJWT } from 'jose'
import { randomUUID } from 'node:crypto'
import type { SystemKey } from '../latency/systems.ts'
import { SECRET } from '../fanout/system.ts'
import { FANOUT_SYSTEMS } from '../fanout/systems.ts'
import { inParallel } from '../lib/parallel.ts'
import type { HotKey } from '../hot-conversation/members.ts'

export interface ThroughputSystem {
  server: SystemKey
  /** The hot-conversation member that sends and receives for this system. */
  member: HotKey
  /** Extra server arguments for this many connections. */
  serverArgs?: (connections: number) => string[]
  /** Makes `count` conversations, conversation i of `sender-i` and `receiver-i`; resolves with what a member joins. */
  create(server: { url: string; httpUrl: string }, count: number): Promise<string[]>
  /** The URL a member of `group` connects to. */
  memberUrl?: (url: string, group: string) => string
}

/** Parley's replaying generator: receivers of conversations 0, CHECK_EVERY, 2·CHECK_EVERY … stay real clients and check every message (10 %). */
export const CHECK_EVERY = 10

export const senderOf = (i: number) => `sender-${i}`
export const receiverOf = (i: number) => `receiver-${i}`

const names = (count: number) => Array.from({ length: count }, () => randomUUID())

export type ThroughputKey = 'raw' | 'socketio' | 'hocuspocus' | 'stock' | 'parley'

export const THROUGHPUT_SYSTEMS: Record<ThroughputKey, ThroughputSystem> = {
  raw: {
    server: 'raw',
    member: 'raw',
    // A conversation is a room: the relay forwards within one URL path.
    create: async (_server, count) => Array.from({ length: count }, (_, i) => `c${i}`),
    memberUrl: (url, room) => `${url}/${room}`,
  },
  socketio: { server: 'socketio', member: 'socketio', create: async (_server, count) => names(count) },
  hocuspocus: { server: 'hocuspocus', member: 'hocuspocus', create: async (_server, count) => names(count) },
  stock: {
    server: 'stock',
    // The same lightweight Automerge peer as Parley's on a segment-shaped document; the stock server ignores the token.
    member: 'parley',
    async create({ url, httpUrl }, count) {
      return inParallel(count, 10, async () => {
        const group = await FANOUT_SYSTEMS.stock.createGroup({ url, httpUrl, users: [] })
        await group.close()
        return group.id
      })
    },
  },
  parley: {
    server: 'parley',
    member: 'parley',
    serverArgs: FANOUT_SYSTEMS.parley.serverArgs,
    // Over REST, as a backend would: sender-i creates conversation i with receiver-i; members sync its one segment.
    async create({ httpUrl }, count) {
      const key = new TextEncoder().encode(SECRET)
      return inParallel(count, 10, async i => {
        const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(senderOf(i)).setExpirationTime('2h').sign(key)
        const response = await fetch(`${httpUrl}/v1/conversations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ kind: 'direct', title: `throughput ${i}`, members: [receiverOf(i)] }),
        })
        if (response.status !== 201) throw new Error(`creating conversation ${i}: HTTP ${response.status} ${await response.text()}`)
        const { segments } = (await response.json()) as { segments: string[] }
        return segments.at(-1)!
      })
    },
  },
}
