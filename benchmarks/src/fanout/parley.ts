/**
 * Parley: the real `parley-server` process. The group is a conversation created over
 * REST by the sender, who appends each message event to the conversation's newest segment
 * with its own Automerge change, as a client does. Each member has its own token and syncs
 * that segment as a client does (Automerge's sync on a document); then one member in
 * REAL_EVERY stays a lightweight Automerge peer (automerge-peer.ts) that applies every
 * change and reads the text, and the others answer from the change headers alone, as
 * Automerge would once it applied them (lib/replay-member.ts): the members' processes then
 * cost what Yjs members cost, so the figure is the server's fan-out, not Automerge's in the
 * members.
 */
import type { Doc } from '@automerge/automerge'
import { appendEvent, documentType, DocumentTypes, eventId, isSegmentFull, readSegmentEvents, segmentLength, type SegmentDoc } from '@parley/core'
import { randomUUID } from 'node:crypto'
import { SignJWT } from 'jose'
import { ReplayMember } from '../lib/replay-member.ts'
import { AutomergePeer } from './automerge-peer.ts'
import { SECRET, textOf, type FanoutSystem } from './system.ts'
import { now } from './timing.ts'

const SENDER = 'sender'
/** One member in this many applies every change with Automerge and checks the text. */
const REAL_EVERY = 10

const token = (user: string) =>
  new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))

/** A peer (`url` with its token, if any) that has synced the segment. */
export async function syncedSegment(url: string, peerId: string, segmentId: string): Promise<AutomergePeer<SegmentDoc>> {
  const peer = await AutomergePeer.connect<SegmentDoc>(url, peerId, segmentId)
  peer.start()
  await peer.until(() => documentType(peer.doc) === DocumentTypes.segment, 'the segment')
  return peer
}

/** A peer of `user` that has synced the segment. */
async function segmentPeer(url: string, user: string, segmentId: string): Promise<AutomergePeer<SegmentDoc>> {
  return syncedSegment(`${url}?token=${await token(user)}`, `${user}-${randomUUID()}`, segmentId)
}

/**
 * Calls `onText` with the text of each message event appended after this call, or with
 * every one the segment holds (`fromStart`); `onFull`, once, when the segment is full
 * (core isSegmentFull: writers go on in the next one).
 */
export function watchSegment(peer: AutomergePeer<SegmentDoc>, onText: (text: string) => void, options: { fromStart?: boolean; onFull?: () => void } = {}): void {
  let seen = options.fromStart ? 0 : segmentLength(peer.doc)
  let full = false
  peer.onSync = (doc: Doc<SegmentDoc>) => {
    if (segmentLength(doc) > seen) {
      const { events } = readSegmentEvents(doc, seen)
      seen = segmentLength(doc)
      for (const event of events) if (event.type === 'message') onText(event.text)
    }
    if (options.onFull && !full && isSegmentFull(doc)) {
      full = true
      options.onFull()
    }
  }
  if (options.fromStart) peer.onSync(peer.doc)
}

export const parleyFanout: FanoutSystem = {
  server: 'parley',
  // One IP for every member; the sender and each member send a few frames per message.
  serverArgs: members => ['--max-connections-per-ip', String(members + 100), '--messages-per-second', '100000', '--message-burst', '100000'],
  async createGroup({ url, httpUrl, users }) {
    const response = await fetch(`${httpUrl}/v1/conversations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await token(SENDER)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'group', title: 'fanout', members: users }),
    })
    if (response.status !== 201) throw new Error(`creating the conversation: HTTP ${response.status} ${await response.text()}`)
    // The answer is the conversation's head view (as GET /v1/conversations/:id gives it).
    const { segments } = (await response.json()) as { segments: string[] }
    const segmentId = segments.at(-1)!
    const sender = await segmentPeer(url, SENDER, segmentId)
    return {
      id: segmentId,
      send: text => sender.change(doc => appendEvent(doc, { id: eventId(SENDER), type: 'message', author: SENDER, device: 'fanout-sender', at: Date.now(), text })),
      close: async () => sender.close(),
    }
  },
  async join(url, user, segmentId, onText) {
    if (Number(user.split('-').at(-1)) % REAL_EVERY === 0) {
      const peer = await segmentPeer(url, user, segmentId)
      watchSegment(peer, onText)
      return () => peer.close()
    }
    // The sender's n-th change (seq n) is message n - 1: the only changes after joining.
    const member = await ReplayMember.join({ url, user, documentId: segmentId, answer: true, clock: now, onChange: change => onText(textOf(change.seq - 1)) })
    member.raw()
    return () => member.close()
  },
}
