/**
 * The wire side of Parley's replaying load generator (README "throughput",
 * "hot-conversation"): what a raw connection needs to speak automerge-repo's protocol to
 * parley-server without an Automerge document on the hot path. The sync message codec,
 * the Bloom filter and the change-header reader are the server's own (sync-server/src/relay),
 * so the bytes are exactly Automerge's (sync-server/test/relay/sync-message.test.ts).
 */
import { cbor } from '@automerge/automerge-repo'
import { SignJWT } from 'jose'
import { randomBytes } from 'node:crypto'
import { BloomFilter } from '../../../sync-server/src/relay/bloom.ts'
import { next as Automerge } from '@automerge/automerge'
import { entryChunks, parseChangeChunk, type ChangeMeta } from '../../../sync-server/src/relay/change-chunk.ts'
import { decodeSyncMessage, encodeSyncMessage, UNBOUNDED, type DecodedSyncMessage } from '../../../sync-server/src/relay/sync-message.ts'
import { SECRET } from '../fanout/system.ts'

export { parseChangeChunk, type ChangeMeta }

export const tokenFor = (user: string): Promise<string> =>
  new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setExpirationTime('2h').sign(new TextEncoder().encode(SECRET))

/**
 * Actor IDs of recorded writers: 12 random bytes for the run, then the writer's index
 * (4 bytes), so a receiver reads who wrote a change from its header alone (`actorIndex`).
 */
export function actorPrefix(): string {
  return randomBytes(12).toString('hex')
}
export const actorOf = (prefix: string, index: number): string => prefix + index.toString(16).padStart(8, '0')
export const actorIndex = (actor: string): number => Number.parseInt(actor.slice(-8), 16)

export interface Envelope {
  type: string
  senderId?: string
  targetId?: string
  documentId?: string
  data?: Uint8Array
  message?: string
}

export const encodeEnvelope = (envelope: Envelope): Uint8Array => cbor.encode(envelope)
export const decodeEnvelope = (bytes: Uint8Array): Envelope => cbor.decode(bytes) as Envelope

/**
 * The change chunks of a server's sync-message entries, split as the server splits them: an
 * entry may hold several chunks, or a whole document (a catch-up), whose changes are read
 * with Automerge. Anything unreadable throws.
 */
export function changeChunks(entries: Iterable<Uint8Array>): Uint8Array[] {
  const expand = (bytes: Uint8Array) => {
    const doc = Automerge.load(bytes)
    const changes = Automerge.getAllChanges(doc)
    Automerge.free(doc)
    return changes
  }
  return [
    ...entryChunks(entries, expand, (_bytes, reason, message) => {
      throw new Error(`a change from the server does not read (${reason}): ${message}`)
    }),
  ]
}

/** A sync message from the server (it may carry more than a client may send: a catch-up). */
export const decodeServerSync = (data: Uint8Array): DecodedSyncMessage => decodeSyncMessage(data, UNBOUNDED)

/**
 * A client's sync message as Automerge's generateSyncMessage writes it once the client
 * holds everything the server told it of: its heads, one `have` since the heads it shares
 * with the server, listing (as a Bloom filter) its own changes since; `need`: the deps of
 * its own changes it has not received yet (a replayed change sent before them).
 */
export function clientSyncMessage(heads: readonly string[], sharedHeads: readonly string[], ours: readonly string[], changes: readonly Uint8Array[], need: readonly string[] = []): Uint8Array {
  return encodeSyncMessage({ heads: [...heads].sort(), need: [...need].sort(), have: [{ lastSync: [...sharedHeads].sort(), bloom: BloomFilter.fromHashes(ours).encode() }], changes })
}

/**
 * A document's heads from the changes a client holds, without the document: heads are the
 * known changes no known change depends on. Changes are learned in causal order (the
 * server forwards its log in order; own changes come after what they were built on, or
 * before it when the server has yet to forward it: then it is known as a dep already and
 * never becomes a head).
 *
 * A member holds one tracker per segment it opened, for the whole run, and every member of
 * a process learns the same changes: hash strings per member and change grew a worker's heap
 * by about 1 MB/s in the hot conversation, and its garbage collection with it.
 * So a process numbers each hash once (`numberOf`), and a tracker keeps bit sets over
 * those numbers (a segment's changes are numbered close together), and its heads.
 */
export class HeadsTracker {
  readonly #heads = new Map<number, string>()
  readonly #known = new BitSet()
  readonly #depended = new BitSet()
  #sorted: string[] | undefined

  constructor(heads: readonly string[] = []) {
    for (const head of heads) this.learn(head, [])
  }

  /** Learns a change; false when it was known already. */
  learn(hash: string, deps: readonly string[]): boolean {
    const n = numberOf(hash)
    if (this.#known.has(n)) return false
    this.#known.add(n)
    for (const dep of deps) {
      const d = numberOf(dep)
      this.#depended.add(d)
      if (this.#heads.delete(d)) this.#sorted = undefined
    }
    if (!this.#depended.has(n)) {
      this.#heads.set(n, hash)
      this.#sorted = undefined
    }
    return true
  }

  knows(hash: string): boolean {
    const n = numbers.get(key(hash))
    return n !== undefined && this.#known.has(n)
  }

  heads(): string[] {
    this.#sorted ??= [...this.#heads.values()].sort()
    return this.#sorted
  }
}

/** A change hash (64 hex digits) as a number: its first 52 bits, exact in a double. */
const key = (hash: string): number => Number.parseInt(hash.slice(0, 13), 16)
/** Every hash this process has seen, numbered in the order first seen. */
const numbers = new Map<number, number>()
function numberOf(hash: string): number {
  const k = key(hash)
  let n = numbers.get(k)
  if (n === undefined) numbers.set(k, (n = numbers.size))
  return n
}

/** A set of small non-negative integers close together: bits from the lowest one added, grown as needed. */
class BitSet {
  #base = 0
  #bits = new Uint8Array(0)

  has(n: number): boolean {
    const i = n - this.#base
    return i >= 0 && i >> 3 < this.#bits.length && (this.#bits[i >> 3]! & (1 << (i & 7))) !== 0
  }

  add(n: number): void {
    if (this.#bits.length === 0) this.#base = n & ~7
    if (n < this.#base) this.#regrow(n & ~7, this.#bits.length + ((this.#base - (n & ~7)) >> 3))
    const i = n - this.#base
    if (i >> 3 >= this.#bits.length) this.#regrow(this.#base, Math.max(16, (i >> 3) + 1, this.#bits.length * 2))
    this.#bits[i >> 3]! |= 1 << (i & 7)
  }

  #regrow(base: number, bytes: number): void {
    const bits = new Uint8Array(bytes)
    bits.set(this.#bits, (this.#base - base) >> 3)
    this.#base = base
    this.#bits = bits
  }
}
