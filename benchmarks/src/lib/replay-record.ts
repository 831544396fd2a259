/**
 * Recording, before a timed run, what real clients send: Automerge changes made with
 * `@parley/core`'s appendEvent on the segment the real server created, each under an
 * actor of its own writer, and (for one writer per segment) the exact sync messages
 * Automerge's generateSyncMessage sends for them. The load generator then replays these
 * bytes (lib/replay-member.ts), so the timed run costs the generator no Automerge work.
 *
 * Which server: the changes must be recorded on the segment of the server they are
 * replayed against (they depend on its genesis change, made by that server with random
 * IDs), and sent to it for the first time in the timed run (a change it already holds is
 * not relayed again). So the segment is synced from that server, and the server's side of
 * the sync while recording is played by the relay core's own sync code
 * (sync-server/src/relay/peer-sync.ts on a ChangeLog) in this process, not by the server.
 * The server checks every recorded change when it arrives in the timed run, as from a
 * live client: the actor is bound to the first user who writes with it, which is the user
 * the change was recorded for (actors are fresh per run: lib/replay-wire.ts actorPrefix),
 * and its events must be that user's; a refused change closes the connection (4403).
 */
import { next as Automerge } from '@automerge/automerge'
import { randomId } from '@parley/core'
import { ChangeLog, createPeerState, generate, receive } from '../../../sync-server/src/relay/index.ts'
import { decodeSyncMessage, UNBOUNDED } from '../../../sync-server/src/relay/sync-message.ts'
import { clientSyncMessage, HeadsTracker, parseChangeChunk } from './replay-wire.ts'

export interface RecordedChange {
  bytes: Uint8Array
  hash: string
  deps: string[]
}

const message = (user: string, text: string) => JSON.stringify({ id: randomId(), type: 'message', author: user, device: 'replay', at: Date.now(), text })

/**
 * Automerge's document handle, written to directly: `push` of a scalar string to the
 * segment's `events` list and `commit` make the same change `Automerge.change` with
 * `@parley/core`'s appendEvent makes (same op, seq, start op, time: `appendEvent`'s is a
 * RawString push), some 18 times cheaper, because nothing is materialized in JavaScript.
 * The handle is taken from a clone that is never read again.
 */
interface Handle {
  getWithType(obj: string, prop: string): [string, string] | null
  push(obj: string, value: string, datatype: 'str'): void
  commit(message: string | null, time: number): string | null
  getLastLocalChange(): Uint8Array | null
  applyChanges(changes: Uint8Array[]): void
}

function writer(doc: Automerge.Doc<unknown>, actor: string): { append(user: string, text: string): Uint8Array } {
  const handle = (Automerge as unknown as { getBackend(doc: unknown): Handle }).getBackend(Automerge.clone(doc, { actor }))
  const events = handle.getWithType('_root', 'events')
  if (!events || events[0] !== 'list') throw new Error('recording: the document has no events list')
  return {
    append(user, text) {
      handle.push(events[1], message(user, text), 'str')
      handle.commit(null, Math.floor(Date.now() / 1000))
      return handle.getLastLocalChange()!
    },
  }
}

/**
 * One writer alone on a segment (throughput): for each text, the sync message a client
 * holding `segment` sends once it appended the text, the server having acknowledged the
 * one before (at the offered rates a conversation's messages are tens of ms apart, its
 * acknowledgements a few ms behind): heads the new change, `have` since the previous
 * one. The first is checked byte for byte against what Automerge's own
 * `generateSyncMessage` sends after a sync with the relay core's code
 * (sync-server/src/relay/peer-sync.ts, the server's side).
 */
export function recordSender(segment: Automerge.Doc<unknown>, actor: string, user: string, texts: readonly string[]): Uint8Array[][] {
  const write = writer(segment, actor)
  let shared: readonly string[] = Automerge.getHeads(segment)
  const frames = texts.map(text => {
    const bytes = write.append(user, text)
    const { hash } = parseChangeChunk(bytes)
    const data = clientSyncMessage([hash], shared, [hash], [bytes])
    shared = [hash]
    return [data]
  })
  if (frames.length > 0) checkFirst(segment, frames[0]![0]!)
  return frames
}

/** Throws unless Automerge, synced with the relay's code and holding the first change, would send `first`. */
function checkFirst(segment: Automerge.Doc<unknown>, first: Uint8Array): void {
  let doc = Automerge.clone(segment)
  const log = new ChangeLog()
  log.append(Automerge.getAllChanges(doc))
  let client = Automerge.initSyncState()
  let server = createPeerState()
  const exchange = (): Uint8Array[] => {
    const sent: Uint8Array[] = []
    for (let round = 0; round < 10; round++) {
      const [state, data] = Automerge.generateSyncMessage(doc, client)
      client = state
      if (!data) return sent
      sent.push(data)
      const received = receive(log, server, data)
      if (received.appended.rejected.length > 0) throw new Error(`recording: the relay refused a change: ${received.appended.rejected[0]!.message}`)
      const answer = generate(log, received.state)
      server = answer.state
      if (answer.message) [doc, client] = Automerge.receiveSyncMessage(doc, client, answer.message)
    }
    throw new Error('recording: the sync did not settle')
  }
  exchange()
  const change = decodeSyncMessage(first, UNBOUNDED).changes[0]!
  ;[doc] = Automerge.applyChanges(doc, [change])
  const [sent] = exchange()
  if (!sent || Buffer.compare(Buffer.from(sent), Buffer.from(first)) !== 0) throw new Error('recording: the recorded sync message differs from the one Automerge sends')
  Automerge.free(doc)
}

export interface Writer {
  user: string
  actor: string
}

/**
 * Many writers on one segment (hot conversation): message n of the run is writer
 * n mod W's, round ⌊n / W⌋, and is made on a replica holding exactly the messages up to
 * n − lag (the writer's own among them when W ≥ lag): what a client has received when it
 * sends, given that the last `lag` − 1 messages may still be on their way.
 *
 * A replica per writer applying every message costs W applies per message (the cost this
 * generator exists to avoid), so each change is written with Automerge's own encoder
 * (`encodeChange`) from what a replica at that point would put in it: deps = the heads
 * of messages ≤ n − lag; one op, an insert of the event's JSON as a scalar string after
 * the last element of that replica's list, numbered one past the highest op it holds. The
 * last element follows from the list's RGA order: a new element goes first among the
 * children of the one it follows, so it is last exactly when it follows the last one. The
 * first messages are checked byte for byte against a real replica's change, and the whole
 * recording is loaded into Automerge once to check it holds every message.
 */
export function recordConversation(genesis: Automerge.Doc<unknown>, writers: readonly Writer[], rounds: number, lag: number, text: (writer: number, round: number) => string): RecordedChange[][] {
  if (lag < 1 || lag > writers.length) throw new Error(`recording: lag ${lag} must be 1 … ${writers.length}`)
  const genesisChanges = Automerge.getAllChanges(genesis)
  const decoded = genesisChanges.map(change => Automerge.decodeChange(change))
  const events = (Automerge.getBackend(genesis) as unknown as Handle).getWithType('_root', 'events')
  if (!events || events[0] !== 'list') throw new Error('recording: the document has no events list')
  if ((genesis as { events: unknown[] }).events.length !== 0) throw new Error('recording: the segment is not empty')
  const heads = new HeadsTracker()
  for (const change of decoded) heads.learn(change.hash!, change.deps)
  /** After the first m messages (index m): heads, last element, highest op counter. */
  const views: { heads: string[]; last: string; maxOp: number }[] = [{ heads: heads.heads(), last: '_head', maxOp: Math.max(...decoded.map(change => change.startOp + change.ops.length - 1)) }]
  const out: RecordedChange[][] = writers.map(() => [])
  const total = rounds * writers.length
  const time = Math.floor(Date.now() / 1000)
  for (let n = 0; n < total; n++) {
    const w = n % writers.length
    const k = Math.floor(n / writers.length)
    const view = views[Math.max(0, n - lag + 1)]!
    const opId = `${view.maxOp + 1}@${writers[w]!.actor}`
    const bytes = Automerge.encodeChange({
      actor: writers[w]!.actor,
      seq: k + 1,
      startOp: view.maxOp + 1,
      time,
      message: null,
      deps: view.heads,
      ops: [{ action: 'set', obj: events[1], elemId: view.last, insert: true, value: message(writers[w]!.user, text(w, k)), pred: [] }],
    } as unknown as Parameters<typeof Automerge.encodeChange>[0])
    const meta = parseChangeChunk(bytes)
    out[w]!.push({ bytes, hash: meta.hash, deps: [...meta.deps] })
    heads.learn(meta.hash, meta.deps)
    const previous = views.at(-1)!
    views.push({ heads: heads.heads(), last: view.last === previous.last ? opId : previous.last, maxOp: Math.max(previous.maxOp, view.maxOp + 1) })
    if (views.length > lag + 1) views[views.length - lag - 2] = undefined as never
  }
  checkConversation(genesis, writers, out, lag)
  return out
}

/** The recording against Automerge: the first changes as a real replica makes them, and all of them loading into one document. */
function checkConversation(genesis: Automerge.Doc<unknown>, writers: readonly Writer[], out: RecordedChange[][], lag: number): void {
  const byIndex = (n: number) => out[n % writers.length]![Math.floor(n / writers.length)]
  for (let n = 0; n < Math.min(3 * lag, writers.length) && byIndex(n); n++) {
    const w = n % writers.length
    const handle = (Automerge as unknown as { getBackend(doc: unknown): Handle }).getBackend(Automerge.clone(genesis, { actor: writers[w]!.actor }))
    const seen = Array.from({ length: Math.max(0, n - lag + 1) }, (_, m) => byIndex(m)!.bytes)
    if (seen.length > 0) handle.applyChanges(seen)
    const ours = byIndex(n)!
    const decoded = Automerge.decodeChange(ours.bytes)
    const events = handle.getWithType('_root', 'events')!
    handle.push(events[1], (decoded.ops[0] as { value: string }).value, 'str')
    handle.commit(null, decoded.time)
    if (Buffer.compare(Buffer.from(handle.getLastLocalChange()!), Buffer.from(ours.bytes)) !== 0) throw new Error(`recording: message ${n} differs from the change a replica makes`)
  }
  const all = out.flatMap((list, w) => list.map((change, k) => ({ n: k * writers.length + w, bytes: change.bytes }))).sort((a, b) => a.n - b.n)
  const [doc] = Automerge.applyChanges(Automerge.clone(genesis), all.map(item => item.bytes))
  const length = (doc as { events: unknown[] }).events.length
  if (length !== all.length || Automerge.getMissingDeps(doc, []).length > 0) throw new Error(`recording: ${all.length} changes load as ${length} events`)
  Automerge.free(doc)
}
