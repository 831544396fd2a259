/**
 * fast-check generators of hostile frames, one per category of docs/errors.md's close
 * codes. Each yields a HostileCase; peer IDs carry the case's category and index so no
 * two cases (or users) ever share one.
 */
import { cbor, parseAutomergeUrl, stringifyAutomergeUrl, type BinaryDocumentId } from '@automerge/automerge-repo'
import { next as Automerge } from '@automerge/automerge'
import fc from 'fast-check'
import { deflateRawSync } from 'node:zlib'
import { automergeChunk, uleb } from '@parley/sync-server/testing'
import type { HostileCase } from './run-cases.ts'

export const MALFORMED = [4400] as const
export const TOO_LARGE = [4413] as const
export const FORBIDDEN = [4403] as const
/** Every close code docs/errors.md lists: what a mutated input may legitimately earn. */
export const ANY_DOCUMENTED = [4400, 4401, 4403, 4408, 4413, 4429] as const

/** The message types the server accepts; anything else is an unknown type. */
const KNOWN_TYPES = ['join', 'sync', 'request', 'ephemeral', 'doc-unavailable', 'remote-subscription-change', 'remote-heads-changed', 'parley/heads-request']

type Fields = Record<string, unknown>
/** The value type of an arbitrary. */
type Of<A> = A extends fc.Arbitrary<infer T> ? T : never
type Template = (peer: string, server: string) => Fields

export const documentIdArb = fc
  .uint8Array({ minLength: 16, maxLength: 16 })
  .map(bytes => parseAutomergeUrl(stringifyAutomergeUrl(bytes as BinaryDocumentId)).documentId as string)

/** A real first sync message of an empty document: valid `data` for sync/request. */
const EMPTY_SYNC = Automerge.generateSyncMessage(Automerge.init(), Automerge.initSyncState())[1]!

/** Valid messages of every type a joined peer may send, for the server `server`. */
const TEMPLATES: Record<string, (documentId: string) => Template> = {
  sync: documentId => (peer, server) => ({ type: 'sync', senderId: peer, targetId: server, documentId, data: EMPTY_SYNC }),
  request: documentId => (peer, server) => ({ type: 'request', senderId: peer, targetId: server, documentId, data: EMPTY_SYNC }),
  'doc-unavailable': documentId => (peer, server) => ({ type: 'doc-unavailable', senderId: peer, targetId: server, documentId }),
  ephemeral: documentId => (peer, server) => ({ type: 'ephemeral', senderId: peer, targetId: server, documentId, data: cbor.encode({ typing: true }), count: 1, sessionId: 'session' }),
  'remote-heads-changed': documentId => (peer, server) => ({ type: 'remote-heads-changed', senderId: peer, targetId: server, documentId, newHeads: {} }),
  'parley/heads-request': documentId => peer => ({ type: 'parley/heads-request', senderId: peer, requestId: 1, documentIds: [documentId] }),
}
const templateArb = fc.tuple(fc.constantFrom(...Object.keys(TEMPLATES)), documentIdArb).map(([type, documentId]) => ({ type, make: TEMPLATES[type]!(documentId) }))

const join = (peer: string, extra: Fields = {}): Fields => ({ type: 'join', senderId: peer, peerMetadata: {}, supportedProtocolVersions: ['1'], ...extra })

// Values of the wrong kind for each kind of field. `undefined` is left out: CBOR keeps it,
// but it reads as an absent field, which is valid for optional ones.
const scalars = [fc.constant(null), fc.integer(), fc.double(), fc.boolean(), fc.bigInt()]
const bytes = fc.uint8Array({ maxLength: 32 })
const string = fc.string({ maxLength: 16 })
const list = fc.array(fc.oneof(...scalars, string), { maxLength: 4 })
const map = fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(...scalars, string), { maxKeys: 4 })
const WRONG: Record<'string' | 'bytes' | 'number' | 'map' | 'strings', fc.Arbitrary<unknown>> = {
  string: fc.oneof(...scalars, bytes, list, map, fc.constant(''), fc.constant('x'.repeat(257))),
  bytes: fc.oneof(...scalars, string, list, map),
  number: fc.oneof(fc.constant(null), fc.boolean(), fc.bigInt(), string, bytes, list, map),
  // bytes are left out: a Uint8Array passes the server's "is a map" check (noted in the report).
  map: fc.oneof(...scalars, string, list),
  strings: fc.oneof(...scalars, string, bytes, map, fc.array(fc.oneof(...scalars, bytes), { minLength: 1, maxLength: 3 })),
}
const FIELD_KINDS: Record<string, keyof typeof WRONG> = {
  type: 'string', senderId: 'string', targetId: 'string', documentId: 'string', sessionId: 'string',
  data: 'bytes', count: 'number', requestId: 'number', newHeads: 'map', peerMetadata: 'map',
  documentIds: 'strings', supportedProtocolVersions: 'strings',
}
/** Fields a join may leave out; every other field of every template is required. */
const OPTIONAL_IN_JOIN = ['peerMetadata', 'supportedProtocolVersions']

/** Removes a required field, or gives one a value of the wrong kind. */
function mutate(message: Fields): fc.Arbitrary<Fields> {
  const fields = Object.keys(message)
  const removable = fields.filter(field => message.type !== 'join' || !OPTIONAL_IN_JOIN.includes(field))
  const remove = fc.constantFrom(...removable).map(field => Object.fromEntries(Object.entries(message).filter(([key]) => key !== field)))
  const replace = fc.constantFrom(...fields).chain(field => WRONG[FIELD_KINDS[field]!].map(value => ({ ...message, [field]: value })))
  return fc.oneof(remove, replace)
}

/** Frames sent after the bad one: the server must ignore them (it already closed). */
const trailingArb = fc.array(fc.oneof(bytes, fc.constant(cbor.encode(null)), fc.constant(cbor.encode({ type: 'sync' }))), { minLength: 2, maxLength: 8 })

const encode = (value: unknown): Uint8Array => cbor.encode(value)
const peerOf = (category: string, index: number): string => `hostile-${category}-${index}`

/** Builds `count` cases from a seeded generator; the index makes peer IDs unique. */
export function sample<T>(arb: fc.Arbitrary<T>, seed: number, count: number, build: (value: T, index: number) => HostileCase): HostileCase[] {
  return fc.sample(arb, { seed, numRuns: count }).map(build)
}

/** Random bytes, before or after join. */
export const randomBytesCase = fc.record({ joined: fc.boolean(), frame: fc.uint8Array({ maxLength: 512 }), trailing: trailingArb })
export const randomBytes = (c: Of<typeof randomBytesCase>, i: number): HostileCase => ({
  label: `random bytes ${c.joined ? 'after' : 'before'} join`,
  joinAs: c.joined ? peerOf('bytes', i) : undefined,
  frames: () => [c.frame, ...c.trailing],
  expect: MALFORMED,
})

/** Valid CBOR of the wrong shape: not a map, or a known message with a field missing or mistyped. */
export const wrongTypesCase = fc.record({
  notAMap: fc.oneof(...scalars, string, bytes, list, fc.date({ noInvalidDate: true })),
  shape: fc.constantFrom('not a map', 'bad join', 'bad message'),
  template: templateArb,
  seed: fc.integer(),
  trailing: trailingArb,
})
export const wrongTypes = (c: Of<typeof wrongTypesCase>, i: number): HostileCase => {
  const peer = peerOf('types', i)
  // The mutation is drawn from the case's own seed so it can depend on the server's peer ID.
  const mutated = (message: Fields) => fc.sample(mutate(message), { seed: c.seed, numRuns: 1 })[0]!
  if (c.shape === 'not a map') return { label: 'a CBOR value that is not a map', frames: () => [encode(c.notAMap), ...c.trailing], expect: MALFORMED }
  if (c.shape === 'bad join') return { label: 'a join with a field missing or mistyped', frames: () => [encode(mutated(join(peer))), ...c.trailing], expect: MALFORMED }
  return { label: `a ${c.template.type} with a field missing or mistyped`, joinAs: peer, frames: server => [encode(mutated(c.template.make(peer, server))), ...c.trailing], expect: MALFORMED }
}

/** Messages of an unknown type after join, including names inherited from Object.prototype. */
const prototypeNames = Object.getOwnPropertyNames(Object.prototype)
export const unknownTypeCase = fc.record({
  type: fc.oneof(fc.string({ minLength: 1, maxLength: 24 }).filter(type => !KNOWN_TYPES.includes(type)), fc.constantFrom('peer', 'leave', 'error', ...prototypeNames)),
  documentId: documentIdArb,
  trailing: trailingArb,
})
export const unknownType = (c: Of<typeof unknownTypeCase>, i: number): HostileCase => {
  const peer = peerOf('unknown', i)
  return {
    label: `unknown type ${JSON.stringify(c.type)}`,
    joinAs: peer,
    frames: server => [encode({ type: c.type, senderId: peer, targetId: server, documentId: c.documentId, data: EMPTY_SYNC }), ...c.trailing],
    expect: MALFORMED,
  }
}

/** A valid message cut short: a join before joining, or any message after. */
export const truncatedCase = fc.record({ template: fc.option(templateArb, { freq: 4 }), cut: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), trailing: trailingArb })
export const truncated = (c: Of<typeof truncatedCase>, i: number): HostileCase => {
  const peer = peerOf('truncated', i)
  const cut = (frame: Uint8Array) => frame.subarray(0, Math.floor(c.cut * frame.length))
  if (!c.template) return { label: 'a truncated join', frames: () => [cut(encode(join(peer))), ...c.trailing], expect: MALFORMED }
  const { type, make } = c.template
  return { label: `a truncated ${type}`, joinAs: peer, frames: server => [cut(encode(make(peer, server))), ...c.trailing], expect: MALFORMED }
}

/** sync/request whose data is random bytes that are not an Automerge sync message. */
const notASyncMessage = fc.uint8Array({ maxLength: 256 }).filter(data => {
  try {
    Automerge.decodeSyncMessage(data)
    return false
  } catch {
    return true
  }
})
export const syncGarbageCase = fc.record({ type: fc.constantFrom('sync', 'request'), documentId: documentIdArb, data: notASyncMessage, trailing: trailingArb })
export const syncGarbage = (c: Of<typeof syncGarbageCase>, i: number): HostileCase => {
  const peer = peerOf('syncdata', i)
  return {
    label: `${c.type} with random data`,
    joinAs: peer,
    frames: server => [encode({ type: c.type, senderId: peer, targetId: server, documentId: c.documentId, data: c.data }), ...c.trailing],
    expect: MALFORMED,
  }
}

/** A frame over the limit (up to twice it: beyond, ws's own cap answers; tested on its own). */
export const oversizeCase = (limit: number) => fc.record({ excess: fc.integer({ min: 1, max: limit - 64 }), documentId: documentIdArb, trailing: trailingArb })
export const oversize = (c: Of<ReturnType<typeof oversizeCase>>, i: number, limit: number): HostileCase => {
  const peer = peerOf('large', i)
  return {
    label: `a frame ${c.excess} bytes over the limit`,
    joinAs: peer,
    frames: server => {
      // A well-formed ephemeral message whose only fault is its size.
      const message = (padding: number) => encode({ type: 'ephemeral', senderId: peer, targetId: server, documentId: c.documentId, data: encode({ pad: 'x'.repeat(padding) }), count: 1, sessionId: 's' })
      const frame = message(limit + c.excess - message(0).length)
      if (frame.length <= limit || frame.length > 2 * limit) throw new Error(`test bug: oversize frame of ${frame.length} bytes`)
      return [frame, ...c.trailing]
    },
    expect: TOO_LARGE,
  }
}

/**
 * A real sync message carrying a change, built with the next API's generateSyncMessage
 * (fixed actor and time, so the bytes and hence the seeded corruptions are reproducible).
 */
function syncMessageWithChange(): { message: Uint8Array; change: { start: number; length: number } } {
  let doc = Automerge.change(Automerge.init<Fields>({ actor: 'ab'.repeat(16) }), { time: 0 }, d => {
    d.title = 'hostile'
    d.events = ['one', 'two']
  })
  // The first message only offers heads; once the peer answers that it has nothing, the next carries the change.
  let [ours, offer] = Automerge.generateSyncMessage(doc, Automerge.initSyncState())
  const [, theirs] = Automerge.receiveSyncMessage(Automerge.init(), Automerge.initSyncState(), offer!)
  const [, answer] = Automerge.generateSyncMessage(Automerge.init(), theirs)
  ;[doc, ours] = Automerge.receiveSyncMessage(doc, ours, answer!)
  const message = Automerge.generateSyncMessage(doc, ours)[1]!
  const change = Automerge.decodeSyncMessage(message).changes[0]!
  const start = Buffer.from(message).indexOf(Buffer.from(change))
  if (start < 0) throw new Error('test bug: change bytes not found in the sync message')
  return { message, change: { start, length: change.length } }
}
const WITH_CHANGE = syncMessageWithChange()

/** What Automerge itself makes of a sync message: the server can do no better. */
function verdict(data: Uint8Array): 'undecodable' | 'corrupt change' | 'still applies' {
  try {
    Automerge.decodeSyncMessage(data)
  } catch {
    return 'undecodable'
  }
  try {
    Automerge.receiveSyncMessage(Automerge.init(), Automerge.initSyncState(), data)
    return 'still applies'
  } catch {
    return 'corrupt change'
  }
}

/** A real sync message with some of its change bytes flipped. */
export const corruptedCase = fc.record({
  type: fc.constantFrom('sync', 'request'),
  documentId: documentIdArb,
  flips: fc.array(fc.record({ at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }), { minLength: 1, maxLength: 3 }),
})
export const corrupted = (c: Of<typeof corruptedCase>, i: number): HostileCase => {
  const peer = peerOf('corrupt', i)
  const data = new Uint8Array(WITH_CHANGE.message)
  for (const { at, mask } of c.flips) data[WITH_CHANGE.change.start + (at % WITH_CHANGE.change.length)]! ^= mask
  const found = verdict(data)
  return {
    label: `${c.type} with flipped change bytes (${found})`,
    joinAs: peer,
    // A corruption Automerge cannot see may be accepted (or refused by access rules): a
    // malformed frame after it must then close the socket. A corrupt one must close it alone.
    frames: server => [encode({ type: c.type, senderId: peer, targetId: server, documentId: c.documentId, data }), ...(found === 'still applies' ? [encode(null)] : [])],
    // Undecodable sync data fails the frame check (4400); a corrupt change may be refused
    // as malformed or, by the access rules, as forbidden.
    expect: found === 'undecodable' ? MALFORMED : ANY_DOCUMENTED,
  }
}

/** Well-formed messages sent before any join. */
export const beforeJoinCase = fc.record({ template: templateArb, trailing: trailingArb })
export const beforeJoin = (c: Of<typeof beforeJoinCase>, i: number): HostileCase => ({
  label: `a ${c.template.type} before join`,
  frames: () => [encode(c.template.make(peerOf('early', i), 'parley-server')), ...c.trailing],
  expect: MALFORMED,
})

/** Breaches of the join protocol: a second join, someone else's senderId, a wrong targetId, no shared version. */
export const violationCase = fc.record({
  kind: fc.constantFrom('second join', 'foreign senderId', 'wrong targetId', 'no common version'),
  template: templateArb.filter(({ type }) => type !== 'ephemeral' && type !== 'parley/heads-request'),
  versions: fc.array(fc.string({ minLength: 1, maxLength: 4 }).filter(version => version !== '1'), { maxLength: 3 }),
  trailing: trailingArb,
})
export const violation = (c: Of<typeof violationCase>, i: number): HostileCase => {
  const peer = peerOf('violation', i)
  const frames: Record<string, (server: string) => Fields> = {
    'second join': () => join(`${peer}-again`),
    // Ephemeral copies under a foreign senderId are dropped by design (relays); other types are not.
    'foreign senderId': server => c.template.make(`${peer}-other`, server),
    'wrong targetId': () => c.template.make(peer, `${peer}-not-the-server`),
  }
  if (c.kind === 'no common version') return { label: `join offering versions ${JSON.stringify(c.versions)}`, frames: () => [encode(join(peer, { supportedProtocolVersions: c.versions })), ...c.trailing], expect: MALFORMED }
  return { label: `${c.kind} (${c.template.type})`, joinAs: peer, frames: server => [encode(frames[c.kind]!(server)), ...c.trailing], expect: MALFORMED }
}

/** A valid join, for cases that hinge on who joins rather than on the frame. */
export const encodeJoin = (peer: string): Uint8Array => encode(join(peer))

/** A well-formed heads request (cheap to answer), for flooding a connection. */
export const encodeHeadsRequest = (peer: string): Uint8Array => encode({ type: 'parley/heads-request', senderId: peer, requestId: 1, documentIds: [] })



/** A change chunk's body (after magic, checksum, type and length). */
function chunkBody(chunk: Uint8Array): Uint8Array {
  let offset = 9
  while (chunk[offset]! & 0x80) offset++
  return chunk.subarray(offset + 1)
}

const bombs = new Map<string, { document: Uint8Array; change: Uint8Array }>()
/** A document of `rows` ops made in one change (memoized: Automerge takes ~20-80 µs per op to make them). */
function bombOf(ops: 'text' | 'list', rows: number): { document: Uint8Array; change: Uint8Array } {
  const key = `${ops}:${rows}`
  let bomb = bombs.get(key)
  if (!bomb) {
    const doc = Automerge.change(Automerge.init<Fields>({ actor: 'b0'.repeat(16) }), { time: 0 }, d => {
      if (ops === 'text') d.t = 'a'.repeat(rows)
      else d.l = new Array(rows).fill(null)
    })
    bomb = { document: Automerge.save(doc), change: Automerge.getLastLocalChange(doc)! }
    bombs.set(key, bomb)
  }
  return bomb
}

/**
 * Small frames that decode to large documents or changes (issue 13, item 1): a saved
 * document, a change or a DEFLATE-compressed change whose run-length-encoded columns
 * hold thousands of ops in a few hundred bytes, for a document ID nobody has. Each is
 * past the server's decode budget (4,096 rows per sync message): 4413, before Automerge
 * decodes any of it.
 */
export const decodeBombCase = fc.record({
  chunk: fc.constantFrom('document', 'change', 'compressed change'),
  ops: fc.constantFrom('text', 'list'),
  rows: fc.constantFrom(5_000, 12_000, 30_000),
  type: fc.constantFrom('sync', 'request'),
  documentId: documentIdArb,
})
export const decodeBomb = (c: Of<typeof decodeBombCase>, i: number): HostileCase => {
  const peer = peerOf('bomb', i)
  const bomb = bombOf(c.ops, c.ops === 'list' ? Math.min(c.rows, 12_000) : c.rows)
  const chunk = c.chunk === 'document' ? bomb.document : c.chunk === 'change' ? bomb.change : automergeChunk(2, deflateRawSync(chunkBody(bomb.change)))
  const data = Automerge.encodeSyncMessage({ heads: [], need: [], have: [], changes: [chunk] })
  return {
    label: `a ${c.type} whose ${chunk.length}-byte ${c.chunk} holds ${c.rows} ${c.ops} ops`,
    joinAs: peer,
    frames: server => [encode({ type: c.type, senderId: peer, targetId: server, documentId: c.documentId, data })],
    expect: TOO_LARGE,
  }
}

/**
 * Sync messages whose layout alone costs the server: thousands of empty changes (each a
 * JS object in decodeSyncMessage) or a Bloom filter declaring millions of probes (each
 * walked for every change when the server answers). Refused as malformed (4400).
 */
export const syncLayoutBombCase = fc.record({
  kind: fc.constantFrom('empty changes', 'bloom probes'),
  count: fc.integer({ min: 5_000, max: 50_000 }),
  probes: fc.integer({ min: 33, max: 2 ** 31 }),
  documentId: documentIdArb,
})
export const syncLayoutBomb = (c: Of<typeof syncLayoutBombCase>, i: number): HostileCase => {
  const peer = peerOf('layout', i)
  const data =
    c.kind === 'empty changes'
      ? new Uint8Array([0x42, 0, 0, 0, ...uleb(c.count), ...new Uint8Array(c.count)])
      : Automerge.encodeSyncMessage({ heads: [], need: [], have: [{ lastSync: [], bloom: new Uint8Array([1, 10, ...uleb(c.probes), 0xff, 0xff]) }], changes: [] })
  return {
    label: c.kind === 'empty changes' ? `a sync message of ${c.count} empty changes` : `a Bloom filter of ${c.probes} probes`,
    joinAs: peer,
    frames: server => [encode({ type: 'sync', senderId: peer, targetId: server, documentId: c.documentId, data })],
    expect: MALFORMED,
  }
}
