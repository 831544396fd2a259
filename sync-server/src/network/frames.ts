/**
 * Decodes and checks every inbound frame before automerge-repo sees it. The library
 * trusts its peers: a CBOR `null` frame alone throws inside its server adapter and
 * kills the process, and a sync message with undecodable bytes throws inside the repo.
 */
import { cbor, isValidDocumentId, type Message } from '@automerge/automerge-repo'
import { BoundedMap } from '@parley/core'
import { decodeSyncMessage, SyncMessageError, UNBOUNDED, type DecodedSyncMessage } from '../relay/sync-message.ts'

export { MAX_SYNC_HASHES } from '../relay/sync-message.ts'

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

/**
 * Document IDs found valid lately. Checking one costs a base58 decode and two SHA-256 in
 * JavaScript, several µs, and nearly every frame names a document seen just before. Only
 * valid IDs enter, the most recent kept.
 */
const VALID_DOCUMENT_IDS_KEPT = 4_096
const validDocumentIds = new BoundedMap<string, true>(VALID_DOCUMENT_IDS_KEPT)

function checkDocument(message: Fields): string | undefined {
  const { documentId } = message
  if (!isString(documentId)) return 'documentId is not a valid document ID'
  if (validDocumentIds.has(documentId)) return undefined
  if (!isValidDocumentId(documentId)) return 'documentId is not a valid document ID'
  validDocumentIds.set(documentId, true)
  return undefined
}

/** Sync messages decoded while checking frames, so the access guard and the relay do not decode them again. */
const decodedSync = new WeakMap<Uint8Array, DecodedSyncMessage>()

/**
 * The decoded form of a sync message's data: the frame check's when it ran. Otherwise
 * the data is the server's own (a message to the cluster bus, which may carry more than
 * a client may send) and is decoded without the inbound limits.
 */
export function decodeSyncData(data: Uint8Array): DecodedSyncMessage {
  return decodedSync.get(data) ?? decodeSyncMessage(data, UNBOUNDED)
}

/**
 * Decodes a sync message in JavaScript (relay/sync-message.ts), refusing while it reads
 * what would cost the server: decoding costs per listed item (a 1 MB frame of a million
 * empty changes blocked the loop 1.3 s) and answering per Bloom probe (50 million probes
 * declared in 9 bytes: 5.7 s in generateSyncMessage). Both message versions (0x42, and
 * 0x43 from peers that know it) are accepted.
 */
function checkSyncData(data: unknown): string | undefined {
  if (!isBytes(data)) return 'sync data must be bytes'
  try {
    decodedSync.set(data, decodeSyncMessage(data))
    return undefined
  } catch (error) {
    return error instanceof SyncMessageError ? error.message : 'sync data is not an Automerge sync message'
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
