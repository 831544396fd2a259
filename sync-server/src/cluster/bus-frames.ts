/**
 * What crosses the cluster bus. Every frame is one CBOR map on one Redis pub/sub
 * channel; `t` is the sender's clock in milliseconds when it published, for the lag metric.
 *
 * Channels (under a prefix, `parley` by default):
 * - `<prefix>:cluster`: heartbeats (`hello`), goodbyes (`bye`) and questions (`query`) to every node;
 * - `<prefix>:node:<peerId>`: frames for one node: repo messages, replies to a hello, answers;
 * - `<prefix>:doc:<documentId>`: one repo message for several nodes at once (`fan`), published
 *   once instead of once per node, to the nodes that sync that document.
 */
import { cbor, type Message, type PeerId, type PeerMetadata } from '@automerge/automerge-repo'

export type BusFrame =
  /**
   * "I am here": every heartbeat on the cluster channel. A node that hears a hello from a
   * node it has no session with answers on that node's channel (`reply`, never answered
   * again; `fresh`: the answering side has just started its session).
   */
  | { k: 'hello'; from: PeerId; epoch: number; meta: PeerMetadata; reply?: true; fresh?: true; t: number }
  /** "Forget me": on a clean disconnect, or to a node whose session with us we dropped. */
  | { k: 'bye'; from: PeerId; epoch: number; t: number }
  /** One repo message for one node, with what the sender's hooks attached (`x`). */
  | { k: 'msg'; from: PeerId; m: Message; x?: unknown; t: number }
  /** One repo message for every node in `to` (each reads it with itself as the target). */
  | { k: 'fan'; from: PeerId; to: PeerId[]; m: Omit<Message, 'targetId'>; x?: unknown; t: number }
  /** A question to every node, answered on the asker's node channel. */
  | { k: 'query'; from: PeerId; id: number; topic: string; body: unknown; t: number }
  | { k: 'answer'; from: PeerId; id: number; body: unknown; t: number }

export interface Channels {
  cluster: string
  node(peerId: PeerId): string
  doc(documentId: string): string
}

export function channels(prefix: string): Channels {
  return {
    cluster: `${prefix}:cluster`,
    node: peerId => `${prefix}:node:${peerId}`,
    doc: documentId => `${prefix}:doc:${documentId}`,
  }
}

/** Milliseconds on a clock that the processes of one host share (sub-millisecond resolution). */
export function busClock(): number {
  return performance.timeOrigin + performance.now()
}

export function encodeFrame(frame: BusFrame): Buffer {
  const bytes = cbor.encode(frame)
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

const KINDS = new Set(['hello', 'bye', 'msg', 'fan', 'query', 'answer'])

/** The frame, or undefined for anything that is not one of ours (another program on the same Redis). */
export function decodeFrame(bytes: Uint8Array): BusFrame | undefined {
  const frame = decodeObject(bytes)
  if (!frame) return undefined
  const { k, from } = frame as { k?: unknown; from?: unknown }
  return typeof k === 'string' && KINDS.has(k) && typeof from === 'string' ? (frame as BusFrame) : undefined
}

/** A CBOR object read from the bus, or undefined for bytes that are not one. */
export function decodeObject(bytes: Uint8Array): object | undefined {
  try {
    const value: unknown = cbor.decode(bytes)
    return typeof value === 'object' && value !== null ? value : undefined
  } catch {
    return undefined
  }
}
