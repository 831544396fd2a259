/**
 * Decodes and checks every inbound frame before automerge-repo sees it. The library
 * trusts its peers: a CBOR `null` frame alone throws inside its server adapter and
 * kills the process, and a sync message with undecodable bytes throws inside the repo.
 */
import { cbor, isValidDocumentId, type Message } from '@automerge/automerge-repo'
import { next as Automerge } from '@automerge/automerge'
import { ChunkError, DECODE_BUDGET, Reader } from '../access/chunk-format.ts'

/** Parley's one addition to the wire protocol: "what are your heads of these documents?" */
export const HEADS_REQUEST = 'parley/heads-request'
export const HEADS_REPLY = 'parley/heads'
export const MAX_HEADS_REQUEST = 10_000

export type Frame =
  | { kind: 'join'; senderId: string; peerMetadata: Record<string, unknown>; supportedProtocolVersions: string[] | undefined }
  | { kind: 'heads-request'; senderId: string; requestId: number; documentIds: string[] }
  | { kind: 'repo'; message: Message & { senderId: string; targetId: string; documentId?: string } }

export type FrameResult = { ok: true; frame: Frame } | { ok: false; reason: string }

type Fields = Record<string, unknown>

const isString = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 256
const isBytes = (value: unknown): value is Uint8Array => value instanceof Uint8Array
const isStringArray = (value: unknown): boolean => Array.isArray(value) && value.every(isString)

/** Checks beyond the common senderId/targetId, per message type. */
const CHECKS: Record<string, (message: Fields) => string | undefined> = {
  sync: message => checkDocument(message) ?? checkSyncData(message.data),
  request: message => checkDocument(message) ?? checkSyncData(message.data),
  'doc-unavailable': message => checkDocument(message),
  ephemeral: message =>
    checkDocument(message) ??
    (!isBytes(message.data) ? 'ephemeral data must be bytes' : undefined) ??
    (typeof message.count !== 'number' || !isString(message.sessionId) ? 'ephemeral needs count and sessionId' : undefined) ??
    checkCbor(message.data as Uint8Array),
  'remote-subscription-change': message =>
    (message.add !== undefined && !isStringArray(message.add)) || (message.remove !== undefined && !isStringArray(message.remove))
      ? 'add/remove must be lists of storage IDs'
      : undefined,
  'remote-heads-changed': message =>
    checkDocument(message) ?? (typeof message.newHeads !== 'object' || message.newHeads === null ? 'newHeads must be a map' : undefined),
}

function checkDocument(message: Fields): string | undefined {
  return isString(message.documentId) && isValidDocumentId(message.documentId) ? undefined : 'documentId is not a valid document ID'
}

/** Sync messages decoded while checking frames, so the access guard does not decode them again. */
const decodedSync = new WeakMap<Uint8Array, Automerge.DecodedSyncMessage>()

/** The decoded form of a sync message's data (from the frame check when it ran). */
export function decodeSyncData(data: Uint8Array): Automerge.DecodedSyncMessage {
  return decodedSync.get(data) ?? Automerge.decodeSyncMessage(data)
}

/** Hashes (heads, need, and each have's lastSync) one sync message may list, together. */
export const MAX_SYNC_HASHES = 8_192
/** Bloom filter parameters beyond Automerge's own (10 bits per entry, 7 probes) cost the server per probe. */
const MAX_BLOOM_BITS_PER_ENTRY = 32
const MAX_BLOOM_PROBES = 32
// 0x42 and, from peers that know it, 0x43 (the same fields; Automerge 2.2 sends whole documents in it).
const SYNC_MESSAGE_TYPES = [0x42, 0x43]
const HASH_BYTES = 32

/**
 * Reads a sync message's layout before Automerge decodes it: 0x42, heads, need (each a
 * uLEB count of 32-byte hashes), haves (each lastSync hashes and a Bloom filter), changes
 * (uLEB count of length-prefixed byte strings), then optional capabilities. Decoding
 * costs per listed item (a 1 MB frame of a million empty changes blocked the loop 1.3 s)
 * and answering costs per Bloom probe (50 million probes declared in 9 bytes: 5.7 s in
 * generateSyncMessage), so both are bounded here.
 */
function checkSyncLayout(data: Uint8Array): string | undefined {
  const reader = new Reader(data)
  try {
    if (!SYNC_MESSAGE_TYPES.includes(reader.take(1)[0]!)) return 'sync data is not an Automerge sync message'
    let hashes = 0
    const skipHashes = (): void => {
      const count = reader.count(HASH_BYTES)
      hashes += count
      reader.take(count * HASH_BYTES)
    }
    skipHashes() // heads
    skipHashes() // need
    const haves = reader.count(2)
    for (let i = 0; i < haves; i++) {
      skipHashes() // lastSync
      const bloom = new Reader(reader.prefixed())
      if (bloom.remaining > 0) {
        bloom.uleb() // entries
        if (bloom.uleb() > MAX_BLOOM_BITS_PER_ENTRY || bloom.uleb() > MAX_BLOOM_PROBES) return 'sync message has a Bloom filter with more bits per entry or probes than Automerge uses'
      }
    }
    if (hashes > MAX_SYNC_HASHES) return `sync message lists more than ${MAX_SYNC_HASHES} hashes`
    if (reader.count(1) > DECODE_BUDGET.rows) return `sync message carries more than ${DECODE_BUDGET.rows} changes`
    return undefined
  } catch (error) {
    if (error instanceof ChunkError) return `sync data is not an Automerge sync message: ${error.message}`
    throw error
  }
}

function checkSyncData(data: unknown): string | undefined {
  if (!isBytes(data)) return 'sync data must be bytes'
  const problem = checkSyncLayout(data)
  if (problem) return problem
  try {
    decodedSync.set(data, Automerge.decodeSyncMessage(data))
    return undefined
  } catch {
    return 'sync data is not an Automerge sync message'
  }
}

function checkCbor(data: Uint8Array): string | undefined {
  try {
    cbor.decode(data)
    return undefined
  } catch {
    return 'ephemeral data is not CBOR'
  }
}

export function decodeFrame(bytes: Uint8Array): FrameResult {
  let decoded: unknown
  try {
    decoded = cbor.decode(bytes)
  } catch {
    return { ok: false, reason: 'frame is not CBOR' }
  }
  if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded) || isBytes(decoded)) {
    return { ok: false, reason: 'frame is not a CBOR map' }
  }
  const message = decoded as Fields
  if (!isString(message.type)) return { ok: false, reason: 'frame has no type' }
  if (!isString(message.senderId)) return { ok: false, reason: 'frame has no senderId' }
  if (message.type === 'join') {
    const { peerMetadata = {}, supportedProtocolVersions } = message
    if (typeof peerMetadata !== 'object' || peerMetadata === null || Array.isArray(peerMetadata) || isBytes(peerMetadata)) return { ok: false, reason: 'peerMetadata must be a map' }
    if (supportedProtocolVersions !== undefined && !isStringArray(supportedProtocolVersions)) return { ok: false, reason: 'supportedProtocolVersions must be strings' }
    return { ok: true, frame: { kind: 'join', senderId: message.senderId, peerMetadata: peerMetadata as Fields, supportedProtocolVersions: supportedProtocolVersions as string[] | undefined } }
  }
  if (message.type === HEADS_REQUEST) {
    const { requestId, documentIds } = message
    if (typeof requestId !== 'number' || !Array.isArray(documentIds) || documentIds.length > MAX_HEADS_REQUEST) return { ok: false, reason: 'malformed heads request' }
    if (!documentIds.every(id => isString(id) && isValidDocumentId(id))) return { ok: false, reason: 'heads request names an invalid document ID' }
    return { ok: true, frame: { kind: 'heads-request', senderId: message.senderId, requestId, documentIds: documentIds as string[] } }
  }
  // Own keys only: a type named `constructor` or `__proto__` must not find Object's members.
  const check = Object.hasOwn(CHECKS, message.type) ? CHECKS[message.type] : undefined
  if (!check) return { ok: false, reason: `unknown message type ${JSON.stringify(message.type).slice(0, 40)}` }
  if (!isString(message.targetId)) return { ok: false, reason: 'frame has no targetId' }
  const problem = check(message)
  if (problem) return { ok: false, reason: problem }
  return { ok: true, frame: { kind: 'repo', message: message as unknown as Message & { senderId: string; targetId: string } } }
}
