/**
 * Server-sent events for one conversation: the backlog after the cursor, then each
 * event as the server stores it. `id:` is the server sequence, so a client that
 * reconnects with `Last-Event-ID` resumes exactly where it stopped. Idle streams cost a
 * listener and a heartbeat timer, nothing else.
 */
import type { FastifyReply } from 'fastify'
import type { EventIndex, SequencedEvent } from '../events/event-index.ts'

const HEARTBEAT_MS = 25_000
const BACKLOG_PAGE = 500

export interface StreamOptions {
  index: EventIndex
  conversationId: string
  after: number
  /** Checked before each event: a member removed meanwhile gets nothing more. */
  stillMember: () => boolean
}

export function streamEvents(reply: FastifyReply, { index, conversationId, after, stillMember }: StreamOptions): void {
  reply.hijack()
  const out = reply.raw
  out.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' })
  let cursor = after
  let replaying = true
  const queued: SequencedEvent[] = []

  const send = (events: SequencedEvent[]): void => {
    if (!stillMember()) return void out.end()
    for (const { seq, event } of events) {
      if (seq <= cursor) continue
      cursor = seq
      out.write(`id: ${seq}\nevent: event\ndata: ${JSON.stringify({ seq, ...event })}\n\n`)
    }
  }
  const onStored = (id: string, events: SequencedEvent[]): void => {
    if (id !== conversationId) return
    if (replaying) queued.push(...events)
    else send(events)
  }
  const heartbeat = setInterval(() => out.write(': keep-alive\n\n'), HEARTBEAT_MS)
  const stop = (): void => {
    clearInterval(heartbeat)
    index.off('stored', onStored)
  }
  index.on('stored', onStored)
  out.on('close', stop)
  out.write(': stream open\n\n')

  // Backlog first; events stored meanwhile wait in `queued` and go out after it, in order.
  void (async () => {
    for (;;) {
      const page = await index.page(conversationId, { after: cursor }, BACKLOG_PAGE)
      send(page.events)
      if (page.events.length < BACKLOG_PAGE || out.writableEnded) break
    }
    replaying = false
    send(queued.splice(0))
  })().catch(error => {
    reply.log.warn({ err: error }, 'event stream failed')
    out.end()
  })
}
