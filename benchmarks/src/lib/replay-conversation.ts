/**
 * Recording a conversation of many writers before a timed run (hot conversation), as
 * the client library (clients/sdk/src/conversation.ts `#writableSegment`) writes it: each
 * message goes to the newest segment the writer's replica of the head lists; when that
 * segment is full there (core isSegmentFull: SEGMENT_SIZE events or SEGMENT_BYTES of
 * event JSON), the writer starts the next one: a new document (automerge-repo's `create`:
 * an empty change, then initSegment), its message in it, and a head change appending the
 * new segment's ID (addSegment). Every member then opens the new segment when its head
 * shows it (the SDK's `loadNewest`) and keeps the older ones open.
 *
 * Message n of the run is writer n mod W's, round ⌊n / W⌋, and is made on a replica
 * holding exactly what messages up to n − lag made (their segments, events and head
 * changes): what a client has received when it sends, given that the last `lag` − 1
 * messages may still be on their way. So at a roll-over the writers of the next lag − 1
 * messages, who do not see the new head yet but see the segment full, each start a
 * segment too, as clients do; the head's list order (Automerge's, for concurrent
 * appends) then decides which one everybody writes to.
 *
 * A replica per writer applying every message would cost W applies per message (the cost
 * this generator exists to avoid), so each append is written with Automerge's own encoder
 * (`encodeChange`) from what a replica at that point would put in it: deps = the
 * segment's heads in the view; one op, an insert of the event's JSON as a scalar string
 * after the last element of that replica's list, numbered one past the highest op it
 * holds. The last element follows from the list's RGA order (the list is the tree of
 * elements, each a child of the one it was inserted after, walked depth first with
 * children by descending op ID): the last element ends the path that takes the smallest
 * child at each step, and a new element takes that path's end exactly when it follows an
 * element on the path and is smaller than that element's smallest child so far. Segment creations and head changes are rare and made with Automerge itself. The
 * first appends of every segment are checked byte for byte against a real replica's
 * change, every segment is loaded into Automerge to check it holds its messages, and the
 * head to check it lists every segment.
 */
import { next as Automerge } from '@automerge/automerge'
import { generateAutomergeUrl, parseAutomergeUrl } from '@automerge/automerge-repo'
import { addSegment, eventId, initSegment, readHead, readString, scalar, SEGMENT_BYTES, SEGMENT_SIZE, utf8Length, type HeadDoc, type SegmentDoc } from '@parley/core'
import { HeadsTracker, parseChangeChunk } from './replay-wire.ts'
import type { RecordedChange } from './replay-record.ts'

export interface ConversationWriter {
  user: string
  /** The writer's actor in segment `segment` (0: the server's first one, then in order of creation). */
  segmentActor(segment: number): string
  /** The writer's actor in the head document. */
  headActor: string
}

/** One message as its writer sends it. */
export interface RecordedSend {
  segment: string
  /** The message's change, after the new segment's creation changes when `created`. */
  changes: RecordedChange[]
  created: boolean
  /** The head change listing the segment this message started. */
  head?: RecordedChange
}

export interface RecordedConversation {
  /** By writer, then round. */
  sends: RecordedSend[][]
  /** The message index n of each message's change hash. */
  messageOf: Map<string, number>
  /** The segment each recorded head change lists. */
  segmentOfHead: Map<string, string>
  /** Every segment in order of creation, with its writer (-1: the server's) and events. */
  segments: { id: string; creator: number; firstMessage: number; events: number }[]
}

/** A segment as a replica holding the view sees it. */
interface SegmentView {
  readonly id: string
  readonly index: number
  /** Object ID of the `events` list. */
  readonly events: string
  readonly heads: HeadsTracker
  /** From the list's start, each element's smallest child (see `follow`): it ends with the last element. */
  path: string[]
  readonly onPath: Map<string, number>
  maxOp: number
  count: number
  bytes: number
  /** Highest seq per actor. */
  readonly seq: Map<string, number>
}

/** What message n changed, applied to the view once the view reaches n. */
interface Effect {
  segment: SegmentView
  created: boolean
  append?: { hash: string; deps: string[]; actor: string; seq: number; opId: string; elemId: string; bytes: number }
  head?: Uint8Array
}

/** Automerge's op ID order: counter, then actor. */
function opIdBefore(a: string, b: string): boolean {
  const [ca, aa] = a.split('@') as [string, string]
  const [cb, ab] = b.split('@') as [string, string]
  return Number(ca) !== Number(cb) ? Number(ca) < Number(cb) : aa < ab
}

/** The list's last element once `opId` is inserted after `elemId` (the path to it, updated). */
function follow(view: SegmentView, opId: string, elemId: string): void {
  const at = view.onPath.get(elemId)
  if (at === undefined) return
  const next = view.path[at + 1]
  if (next !== undefined && !opIdBefore(opId, next)) return
  for (const dropped of view.path.splice(at + 1)) view.onPath.delete(dropped)
  view.path.push(opId)
  view.onPath.set(opId, view.path.length - 1)
}

const eventJson = (user: string, text: string) => JSON.stringify({ id: eventId(user), type: 'message', author: user, device: 'replay', at: Date.now(), text })
const maxOpOf = (changes: readonly Automerge.DecodedChange[]) => Math.max(0, ...changes.map(change => change.startOp + change.ops.length - 1))

function viewOf(id: string, index: number, doc: Automerge.Doc<unknown>): SegmentView {
  const changes = Automerge.getAllChanges(doc).map(change => Automerge.decodeChange(change))
  const events = Automerge.getObjectId(doc, 'events')
  if (!events) throw new Error(`recording: segment ${id} has no events list`)
  const heads = new HeadsTracker()
  const seq = new Map<string, number>()
  for (const change of changes) {
    heads.learn(change.hash!, change.deps)
    seq.set(change.actor, Math.max(seq.get(change.actor) ?? 0, change.seq))
  }
  const list = (doc as SegmentDoc).events
  let bytes = 0
  for (const entry of list) bytes += utf8Length(readString(entry) ?? '')
  // A segment to start from holds one event at most: the path is the list's start, then it.
  const view: SegmentView = { id, index, events, heads, path: ['_head'], onPath: new Map([['_head', 0]]), maxOp: maxOpOf(changes), count: list.length, bytes, seq }
  const inserts = changes.flatMap(change => change.ops.map((op, i) => ({ op: op as { obj: string; insert?: boolean }, id: `${change.startOp + i}@${change.actor}` })).filter(({ op }) => op.obj === events && op.insert))
  if (inserts.length > 1) throw new Error('recording: a segment to start from holds one event at most')
  for (const insert of inserts) follow(view, insert.id, '_head')
  return view
}

export interface RollOptions {
  /** Events in a full segment (core SEGMENT_SIZE). */
  size?: number
  /** UTF-8 bytes of event JSON in a full segment (core SEGMENT_BYTES). */
  maxBytes?: number
}

/**
 * Every writer's messages, `rounds` each, on the conversation whose head and only
 * segment (empty, made by the server) are given.
 */
export function recordConversation(
  segment: { id: string; doc: Automerge.Doc<unknown> },
  head: { id: string; doc: Automerge.Doc<unknown> },
  writers: readonly ConversationWriter[],
  rounds: number,
  lag: number,
  text: (writer: number, round: number) => string,
  { size = SEGMENT_SIZE, maxBytes = SEGMENT_BYTES }: RollOptions = {},
): RecordedConversation {
  if (lag < 1 || lag > writers.length) throw new Error(`recording: lag ${lag} must be 1 … ${writers.length}`)
  if ((segment.doc as SegmentDoc).events?.length !== 0) throw new Error('recording: the segment is not empty')
  const W = writers.length
  const time = Math.floor(Date.now() / 1000)
  const views = new Map<string, SegmentView>([[segment.id, viewOf(segment.id, 0, segment.doc)]])
  let viewHead = Automerge.clone(head.doc)
  let newest = readHead(viewHead as HeadDoc).segments.at(-1)
  if (newest !== segment.id) throw new Error('recording: the head does not list the segment as its newest')
  const effects: Effect[] = []
  const sends: RecordedSend[][] = writers.map(() => [])
  const messageOf = new Map<string, number>()
  const segmentOfHead = new Map<string, string>()
  const segments: RecordedConversation['segments'] = [{ id: segment.id, creator: -1, firstMessage: 0, events: 0 }]
  /** Every change of each segment, with the message that made it, for the check. */
  const written = new Map<string, { n: number; bytes: Uint8Array; encoded: boolean }[]>([[segment.id, []]])
  const headChanges: Uint8Array[] = []

  const apply = (effect: Effect) => {
    const view = effect.segment
    if (effect.created) views.set(view.id, view)
    else if (effect.append) {
      const { hash, deps, actor, seq, opId, elemId, bytes } = effect.append
      view.heads.learn(hash, deps)
      view.seq.set(actor, seq)
      view.maxOp = Math.max(view.maxOp, Number.parseInt(opId, 10))
      follow(view, opId, elemId)
      view.count++
      view.bytes += bytes
    }
    if (effect.head) {
      ;[viewHead] = Automerge.applyChanges(viewHead, [effect.head])
      newest = readHead(viewHead as HeadDoc).segments.at(-1)
    }
  }

  for (let n = 0; n < rounds * W; n++) {
    if (n - lag >= 0) apply(effects[n - lag]!)
    if (n - lag - 1 >= 0) effects[n - lag - 1] = undefined as never
    const w = n % W
    const k = Math.floor(n / W)
    const writer = writers[w]!
    const json = eventJson(writer.user, text(w, k))
    const target = newest === undefined ? undefined : views.get(newest)
    if (!target) throw new Error(`recording: message ${n}: the newest segment ${newest} is unknown`)
    if (target.count < size && target.bytes < maxBytes) {
      const actor = writer.segmentActor(target.index)
      const seq = (target.seq.get(actor) ?? 0) + 1
      const startOp = target.maxOp + 1
      const bytes = Automerge.encodeChange({
        actor,
        seq,
        startOp,
        time,
        message: null,
        deps: target.heads.heads(),
        ops: [{ action: 'set', obj: target.events, elemId: target.path.at(-1)!, insert: true, value: json, pred: [] }],
      } as unknown as Parameters<typeof Automerge.encodeChange>[0])
      const meta = parseChangeChunk(bytes)
      sends[w]!.push({ segment: target.id, changes: [{ bytes, hash: meta.hash, deps: [...meta.deps] }], created: false })
      messageOf.set(meta.hash, n)
      written.get(target.id)!.push({ n, bytes, encoded: true })
      effects.push({ segment: target, created: false, append: { hash: meta.hash, deps: [...meta.deps], actor, seq, opId: `${startOp}@${actor}`, elemId: target.path.at(-1)!, bytes: utf8Length(json) } })
      continue
    }
    // The newest segment is full here: start the next one, as the client library does.
    const id = parseAutomergeUrl(generateAutomergeUrl()).documentId as string
    const index = segments.length
    let doc = Automerge.emptyChange(Automerge.init<SegmentDoc>({ actor: writer.segmentActor(index) }), { time })
    doc = Automerge.change(doc, { time }, d => initSegment(d, head.id))
    doc = Automerge.change(doc, { time }, d => void d.events.push(scalar(json) as never))
    const changes = Automerge.getAllChanges(doc).map(bytes => ({ bytes, ...parseChangeChunk(bytes) }))
    const view = viewOf(id, index, doc)
    Automerge.free(doc)
    let headReplica = Automerge.clone(viewHead, { actor: writer.headActor })
    headReplica = Automerge.change(headReplica, { time }, d => addSegment(d as HeadDoc, id))
    const headChange = Automerge.getLastLocalChange(headReplica)!
    Automerge.free(headReplica)
    const headMeta = parseChangeChunk(headChange)
    sends[w]!.push({
      segment: id,
      changes: changes.map(change => ({ bytes: change.bytes, hash: change.hash, deps: [...change.deps] })),
      created: true,
      head: { bytes: headChange, hash: headMeta.hash, deps: [...headMeta.deps] },
    })
    messageOf.set(changes.at(-1)!.hash, n)
    segmentOfHead.set(headMeta.hash, id)
    segments.push({ id, creator: w, firstMessage: n, events: 0 })
    written.set(id, changes.map(change => ({ n, bytes: change.bytes, encoded: false })))
    headChanges.push(headChange)
    effects.push({ segment: view, created: true, head: headChange })
  }
  for (const entry of segments) entry.events = written.get(entry.id)!.filter(change => messageOf.has(parseChangeChunk(change.bytes).hash)).length
  checkConversation(segment, head.doc, writers, written, headChanges, segments, lag, rounds * W)
  Automerge.free(viewHead)
  return { sends, messageOf, segmentOfHead, segments }
}

/** The recording against Automerge: the first appends of each segment as a real replica makes them, every segment loading with its messages, the head listing every segment. */
function checkConversation(
  first: { id: string; doc: Automerge.Doc<unknown> },
  headDoc: Automerge.Doc<unknown>,
  writers: readonly ConversationWriter[],
  written: Map<string, { n: number; bytes: Uint8Array; encoded: boolean }[]>,
  headChanges: Uint8Array[],
  segments: RecordedConversation['segments'],
  lag: number,
  total: number,
): void {
  let events = 0
  segments.forEach(({ id }, index) => {
    const changes = written.get(id)!
    const base = index === 0 ? Automerge.getAllChanges(first.doc) : []
    // The first appends made with encodeChange, against a replica holding what their view held.
    for (const ours of changes.filter(change => change.encoded).slice(0, 2 * lag)) {
      const writer = writers[ours.n % writers.length]!
      const seen = changes.filter(change => change.n <= ours.n - lag).map(change => change.bytes)
      let replica = Automerge.init<SegmentDoc>({ actor: writer.segmentActor(index) })
      ;[replica] = Automerge.applyChanges(replica, [...base, ...seen])
      const decoded = Automerge.decodeChange(ours.bytes)
      replica = Automerge.change(replica, { time: decoded.time }, d => void d.events.push(scalar((decoded.ops[0] as { value: string }).value) as never))
      const made = Automerge.getLastLocalChange(replica)!
      Automerge.free(replica)
      if (Buffer.compare(Buffer.from(made), Buffer.from(ours.bytes)) !== 0) throw new Error(`recording: message ${ours.n} (segment ${index}) differs from the change a replica makes`)
    }
    const [doc] = Automerge.applyChanges(Automerge.init(), [...base, ...changes.map(change => change.bytes)])
    const length = (doc as SegmentDoc).events.length
    if (length !== segments[index]!.events || Automerge.getMissingDeps(doc, []).length > 0) throw new Error(`recording: segment ${index}'s changes load as ${length} events, not ${segments[index]!.events}`)
    events += length
    Automerge.free(doc)
  })
  if (events !== total) throw new Error(`recording: ${total} messages, ${events} events in the segments`)
  const [head] = Automerge.applyChanges(Automerge.clone(headDoc), headChanges)
  const listed = new Set(readHead(head as HeadDoc).segments)
  const unlisted = segments.filter(({ id }) => !listed.has(id))
  if (unlisted.length > 0 || Automerge.getMissingDeps(head, []).length > 0) throw new Error(`recording: the head does not list ${unlisted.length} segments`)
  Automerge.free(head)
}
