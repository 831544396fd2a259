/**
 * Recording, before a timed run, what real clients send: Automerge changes made with
 * `@parley/core`'s appendEvent on the segment the real server created, each under an
 * actor of its own writer, and (for one writer per segment) the exact sync messages
 * Automerge's generateSyncMessage sends for them. The load generator then replays these
 * bytes (lib/replay-member.ts), so the timed run costs the generator no Automerge work.
 * Many writers on one conversation, rolling over to new segments: lib/replay-conversation.ts.
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
import { eventId } from '@parley/core'
import { ChangeLog, createPeerState, generate, receive } from '../../../sync-server/src/relay/index.ts'
import { decodeSyncMessage, UNBOUNDED } from '../../../sync-server/src/relay/sync-message.ts'
import { clientSyncMessage, parseChangeChunk } from './replay-wire.ts'

export interface RecordedChange {
  bytes: Uint8Array
  hash: string
  deps: string[]
}

const message = (user: string, text: string) => JSON.stringify({ id: eventId(user), type: 'message', author: user, device: 'replay', at: Date.now(), text })

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
