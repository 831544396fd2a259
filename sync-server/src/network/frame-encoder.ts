/**
 * Encodes the frames the server sends: automerge-repo's CBOR (`cbor.encode`, which builds
 * a new cbor-x Encoder for every frame), with one encoder for all of them.
 *
 * A sync message sent to many peers in a row (the hub's forward of one change to every
 * member it has, relay/segment-peers.ts) differs per peer only in `targetId`. From its
 * second peer on, its other fields are encoded once and each peer's frame is a map header,
 * the target, and that encoding: a CBOR map's entries may come in any order.
 */
import { Encoder } from 'cbor-x'

const encoder = new Encoder({ tagUint8Array: false, useRecords: false })

/** One frame, as automerge-repo's `cbor.encode` encodes it. */
export function encodeFrame(frame: object): Uint8Array {
  return encoder.encode(frame)
}

interface SyncFrame {
  readonly type: 'sync'
  readonly senderId: string
  readonly targetId: string
  readonly documentId: string
  readonly data: Uint8Array
}

/** cbor-x writes every map's header as map16 (b9 and two length bytes); ours is the one-byte header of a five-entry map. */
const MAP16 = 0xb9
const MAP_OF_5 = 0xa5
/** CBOR text "targetId". */
const TARGET_KEY = Buffer.from([0x68, ...Buffer.from('targetId')])

export class FrameEncoder {
  /** The last sync frame's shared fields, and (from its second peer on) their encoding without the map header. */
  #last: Omit<SyncFrame, 'type' | 'targetId'> | undefined
  #entries: Uint8Array | null | undefined

  encode(frame: object): Uint8Array {
    if (!isSyncFrame(frame)) return encoder.encode(frame)
    const last = this.#last
    if (last === undefined || last.data !== frame.data || last.senderId !== frame.senderId || last.documentId !== frame.documentId) {
      this.#last = { senderId: frame.senderId, documentId: frame.documentId, data: frame.data }
      this.#entries = undefined
      return encoder.encode(frame)
    }
    const entries = (this.#entries ??= entriesOf(last))
    const targetLength = Buffer.byteLength(frame.targetId)
    const header = textHeader(targetLength)
    if (entries === null || header === undefined) return encoder.encode(frame)
    const bytes = Buffer.allocUnsafe(1 + TARGET_KEY.length + header.length + targetLength + entries.length)
    bytes[0] = MAP_OF_5
    let at = 1
    at += TARGET_KEY.copy(bytes, at)
    bytes.set(header, at)
    at += header.length
    at += bytes.write(frame.targetId, at)
    bytes.set(entries, at)
    return bytes
  }
}

/** A sync frame with exactly the five fields the shared encoding rebuilds. */
function isSyncFrame(frame: object): frame is SyncFrame {
  const fields = frame as Partial<SyncFrame>
  return fields.type === 'sync' && fields.data instanceof Uint8Array && typeof fields.targetId === 'string' && typeof fields.senderId === 'string' && typeof fields.documentId === 'string' && Object.keys(frame).length === 5
}

/** The four shared fields' map entries, after the map header (cbor-x writes map16: b9 00 04); null for any other header. */
function entriesOf(fields: Omit<SyncFrame, 'type' | 'targetId'>): Uint8Array | null {
  const whole = encoder.encode({ type: 'sync', senderId: fields.senderId, documentId: fields.documentId, data: fields.data })
  return whole[0] === MAP16 && whole[1] === 0 && whole[2] === 4 ? whole.subarray(3) : null
}

/** The header of a CBOR text string of `length` bytes; undefined past 65,535 (peer IDs are far shorter). */
function textHeader(length: number): number[] | undefined {
  return length < 24 ? [0x60 | length] : length < 256 ? [0x78, length] : length < 65_536 ? [0x79, length >> 8, length & 0xff] : undefined
}
