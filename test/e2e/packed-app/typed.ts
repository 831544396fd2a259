// Type-checked (tsc --noEmit, strict) against the packed declarations: the types are real,
// not `any` (each @ts-expect-error must meet an error).
import { createClient, type ConnectionStatus, type TimelineItem } from '@parley/client'
import { useStatus, useTimeline, type Opening } from '@parley/react'

const client = await createClient({ server: 'ws://127.0.0.1:8787', token: 'token', storage: { kind: 'memory' } })
const conversation = await client.createConversation({ title: 'typed' })
const id: string = await conversation.send('hello')
const timeline: TimelineItem[] = conversation.timeline()
// @ts-expect-error send takes text
await conversation.send(42)
// @ts-expect-error no such storage kind
await createClient({ token: 'token', storage: { kind: 'floppy' } })

export function hooks(): [ConnectionStatus, TimelineItem[], Opening['state']] {
  // @ts-expect-error useTimeline takes a conversation ID
  useTimeline(7)
  return [useStatus(), useTimeline(id), 'opening']
}
console.log(timeline.length)
