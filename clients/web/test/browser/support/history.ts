/**
 * A long conversation on the server, as if written over years: built straight into
 * automerge documents (one change per segment of 1,000 events, so 100,000 messages take
 * seconds instead of 100,000 sends), then uploaded through @parley/client like any
 * device's history, and synced until the server holds all of it.
 */
import { Repo } from '@automerge/automerge-repo'
import { createClient } from '@parley/client'
import { addSegment, appendEvent, initHead, initSegment, MemoryStorageAdapter, SEGMENT_SIZE, type HeadDoc, type SegmentDoc } from '@parley/core'

export const historyText = (i: number): string => `Message ${i + 1} of the archive`

/** One message a minute, ending an hour ago: the timeline spans days, so it shows day separators. */
function timeOf(i: number, count: number): number {
  return Date.now() - 3_600_000 - (count - i) * 60_000
}

async function build(author: string, title: string, count: number): Promise<{ storage: MemoryStorageAdapter; id: string }> {
  const storage = new MemoryStorageAdapter()
  const repo = new Repo({ storage })
  const head = repo.create<HeadDoc>()
  for (let start = 0; start < count; start += SEGMENT_SIZE) {
    const segment = repo.create<SegmentDoc>()
    segment.change(doc => {
      initSegment(doc, head.documentId)
      for (let i = start; i < Math.min(count, start + SEGMENT_SIZE); i++) {
        appendEvent(doc, { id: `archive-${i}`, type: 'message', author, device: 'archive', at: timeOf(i, count), text: historyText(i) })
      }
    })
    if (start === 0) head.change(doc => initHead(doc, { kind: 'group', title, creator: author, members: [], at: timeOf(0, count) - 1, firstSegment: segment.documentId }))
    else head.change(doc => addSegment(doc, segment.documentId))
  }
  await repo.flush()
  await repo.shutdown()
  return { storage, id: head.documentId }
}

/** Puts a conversation of `count` messages by `author` on the server; returns its ID. */
export async function seedHistory(server: { syncUrl: string; token(user: string): Promise<string> }, author: string, title: string, count: number): Promise<string> {
  const { storage, id } = await build(author, title, count)
  const token = await server.token(author)
  const client = await createClient({ server: server.syncUrl, token, storage: { kind: 'custom', adapter: storage } })
  try {
    const conversation = await client.conversation(id)
    while (conversation.hasOlder()) await conversation.loadOlder(count)
    await client.sync({ timeout: 300_000 })
  } finally {
    await client.close()
  }
  return id
}
