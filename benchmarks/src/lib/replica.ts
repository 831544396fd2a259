/**
 * Builds a conversation of N messages straight into a LevelDB replica, one Automerge
 * change per segment, so large histories take seconds instead of N separate sends.
 */
import { Repo } from '@automerge/automerge-repo'
import {
  addSegment,
  appendEvent,
  closableStorage,
  eventId,
  initHead,
  initSegment,
  LevelStorageAdapter,
  SEGMENT_SIZE,
  type HeadDoc,
  type LevelDatabase,
  type SegmentDoc,
} from '@parley/core'
import { Level } from 'level'

export const messageText = (i: number) => `message ${i} ${'x'.repeat(80)}`

export async function buildReplica(dir: string, count: number, segmentSize: number = SEGMENT_SIZE): Promise<string> {
  const db = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
  const storage = closableStorage(new LevelStorageAdapter(db as unknown as LevelDatabase), () => db.close())
  const repo = new Repo({ storage: storage.adapter })
  const head = repo.create<HeadDoc>()
  let at = 1_700_000_000_000
  for (let start = 0; start < count || start === 0; start += segmentSize) {
    const segment = repo.create<SegmentDoc>()
    segment.change(doc => {
      initSegment(doc, head.documentId)
      for (let i = start; i < Math.min(count, start + segmentSize); i++) {
        appendEvent(doc, { id: eventId('alice'), type: 'message', author: 'alice', device: 'builder', at: at++, text: messageText(i) })
      }
    })
    if (start === 0) head.change(doc => initHead(doc, { kind: 'group', title: 'history', creator: 'alice', members: [], at, firstSegment: segment.documentId }))
    else head.change(doc => addSegment(doc, segment.documentId))
  }
  await repo.flush()
  await storage.close()
  return head.documentId
}
