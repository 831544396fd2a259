import { createClient } from '@parley/client'
import { Repo } from '@automerge/automerge-repo'
import { addSegment, appendEvent, initHead, initSegment, MemoryStorageAdapter, randomId, SEGMENT_SIZE, type HeadDoc, type SegmentDoc } from '@parley/core'
const N = Number(process.argv[2] ?? 100_000)
const t = performance.now(); const log = (s: string) => console.log(((performance.now() - t) / 1000).toFixed(1), s)
const storage = new MemoryStorageAdapter()
const repo = new Repo({ storage })
const head = repo.create<HeadDoc>()
for (let start = 0; start < N; start += SEGMENT_SIZE) {
  const segment = repo.create<SegmentDoc>()
  segment.change(doc => {
    initSegment(doc, head.documentId)
    for (let i = start; i < Math.min(N, start + SEGMENT_SIZE); i++) appendEvent(doc, { id: randomId(), type: 'message', author: 'alice', device: 'archive', at: 1_700_000_000_000 + i, text: `Message ${i + 1} of the archive` })
  })
  if (start === 0) head.change(doc => initHead(doc, { kind: 'group', title: 'A', creator: 'alice', members: [], at: 1_600_000_000_000, firstSegment: segment.documentId }))
  else head.change(doc => addSegment(doc, segment.documentId))
}
log('built')
await repo.flush(); await repo.shutdown()
log('flushed')
const token = ((await (await fetch('http://127.0.0.1:8899/v1/dev/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice' }) })).json()) as { token: string }).token
const client = await createClient({ server: 'ws://127.0.0.1:8899', token, storage: { kind: 'custom', adapter: storage } })
log('client')
const conversation = await client.conversation(head.documentId)
log('opened')
while (conversation.hasOlder()) await conversation.loadOlder(N)
log('loaded all')
await client.sync({ timeout: 300_000 })
log('synced')
await client.close()
