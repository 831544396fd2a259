/**
 * Parley: the real `parley-server` process. The group is a conversation created over
 * REST by the sender; each member is a lightweight peer (automerge-peer.ts) with its own
 * token that syncs the conversation's newest segment, and the sender appends the message
 * event to that segment with its own Automerge change, as a client does.
 */
import type { Doc } from '@automerge/automerge'
import { appendEvent, documentType, DocumentTypes, randomId, readSegmentEvents, segmentLength, type SegmentDoc } from '@parley/core'
import { randomUUID } from 'node:crypto'
import { SignJWT } from 'jose'
import { AutomergePeer } from './automerge-peer.ts'
import { SECRET, type FanoutSystem } from './system.ts'

const SENDER = 'sender'

const token = (user: string) =>
  new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))

/** A peer of `user` that has synced the segment. */
async function segmentPeer(url: string, user: string, segmentId: string): Promise<AutomergePeer<SegmentDoc>> {
  const peer = await AutomergePeer.connect<SegmentDoc>(`${url}?token=${await token(user)}`, `${user}-${randomUUID()}`, segmentId)
  peer.start()
  await peer.until(() => documentType(peer.doc) === DocumentTypes.segment, 'the segment')
  return peer
}

/** Calls `onText` with the text of each message event appended after this call. */
export function watchSegment(peer: AutomergePeer<SegmentDoc>, onText: (text: string) => void): void {
  let seen = segmentLength(peer.doc)
  peer.onSync = (doc: Doc<SegmentDoc>) => {
    if (segmentLength(doc) === seen) return
    const { events } = readSegmentEvents(doc, seen)
    seen = segmentLength(doc)
    for (const event of events) if (event.type === 'message') onText(event.text)
  }
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
      send: text => sender.change(doc => appendEvent(doc, { id: randomId(), type: 'message', author: SENDER, device: 'fanout-sender', at: Date.now(), text })),
      close: async () => sender.close(),
    }
  },
  async join(url, user, segmentId, onText) {
    const peer = await segmentPeer(url, user, segmentId)
    watchSegment(peer, onText)
    return () => peer.close()
  },
}
