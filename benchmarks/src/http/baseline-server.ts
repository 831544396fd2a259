/**
 * The floor for the HTTP benchmark: the same three routes (publish, long poll, SSE) on
 * bare node:http with an in-memory list and an EventEmitter — no auth, no storage, no
 * documents. Whatever Parley adds on top is the cost of doing it for real.
 */
import { EventEmitter } from 'node:events'
import { createServer } from 'node:http'

const events: { seq: number; text: string }[] = []
const stored = new EventEmitter().setMaxListeners(0)
const after = (cursor: number) => events.filter(event => event.seq > cursor)

const server = createServer((request, response) => {
  const url = new URL(request.url ?? '/', 'http://x')
  if (request.method === 'POST') {
    let body = ''
    request.on('data', chunk => (body += chunk))
    request.on('end', () => {
      const event = { seq: events.length + 1, text: (JSON.parse(body) as { text: string }).text }
      events.push(event)
      stored.emit('stored', event)
      response.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ seq: event.seq }))
    })
  } else if (url.pathname.endsWith('/stream')) {
    response.writeHead(200, { 'content-type': 'text/event-stream' }).flushHeaders()
    const send = (event: { seq: number }) => response.write(`id: ${event.seq}\nevent: event\ndata: ${JSON.stringify(event)}\n\n`)
    after(Number(url.searchParams.get('after') ?? 0)).forEach(send)
    stored.on('stored', send)
    request.on('close', () => stored.off('stored', send))
  } else {
    const cursor = Number(url.searchParams.get('after') ?? 0)
    const answer = () => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ events: after(cursor) }))
    if (after(cursor).length > 0) return answer()
    const onStored = () => {
      clearTimeout(timer)
      answer()
    }
    const timer = setTimeout(() => {
      stored.off('stored', onStored)
      answer()
    }, Number(url.searchParams.get('wait') ?? 0) * 1000)
    stored.once('stored', onStored)
  }
})
server.listen(Number(process.argv[2]), '127.0.0.1', () => console.log('baseline listening on', process.argv[2]))
