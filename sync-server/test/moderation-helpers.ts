/** A moderation hook the tests run (a real HTTP server on port 0), and waits on the decisions the server writes. */
import type { ModeratedEvent, ParleyEvent } from '@parley/core'
import { createServer, type Server } from 'node:http'
import { text as body } from 'node:stream/consumers'
import type { TestServer } from '../src/testing.ts'

export interface TestHook {
  url: string
  /** The texts the hook was asked about, in order. */
  asked: string[]
  close(): Promise<void>
}

/** Answers by the text: `reject` when it holds "nasty", `flag` when it holds "spammy", else `allow`; `hang` never answers. */
export async function startHook(mode: 'answer' | 'hang' = 'answer'): Promise<TestHook> {
  const asked: string[] = []
  const server: Server = createServer((request, response) => {
    void body(request).then(text => {
      const { event } = JSON.parse(text) as { event: { text: string } }
      asked.push(event.text)
      if (mode === 'hang') return
      const decision = event.text.includes('nasty') ? 'reject' : event.text.includes('spammy') ? 'flag' : 'allow'
      response.setHeader('content-type', 'application/json')
      response.end(JSON.stringify(decision === 'allow' ? { decision } : { decision, reason: `the hook says ${decision}` }))
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}/moderate`,
    asked,
    close: () =>
      new Promise(resolve => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** Every event of a conversation over HTTP, oldest first. */
export async function events(server: Pick<TestServer, 'httpUrl' | 'token'>, user: string, conversationId: string): Promise<(ParleyEvent & { seq: number })[]> {
  const response = await fetch(`${server.httpUrl}/v1/conversations/${conversationId}/events?after=0&limit=1000`, { headers: { authorization: `Bearer ${await server.token(user)}` } })
  if (!response.ok) throw new Error(`events: HTTP ${response.status} ${await response.text()}`)
  return ((await response.json()) as { events: (ParleyEvent & { seq: number })[] }).events
}

/**
 * Waits (long polls, bounded) until the conversation holds a `moderated` event about
 * `target` satisfying `predicate`; resolves with it.
 */
export async function decisionAbout(server: Pick<TestServer, 'httpUrl' | 'token'>, user: string, conversationId: string, target: string, predicate: (event: ModeratedEvent) => boolean = () => true): Promise<ModeratedEvent> {
  const token = await server.token(user)
  let after = 0
  for (let polls = 0; polls < 100; polls++) {
    const response = await fetch(`${server.httpUrl}/v1/conversations/${conversationId}/events?after=${after}&limit=1000&wait=2`, { headers: { authorization: `Bearer ${token}` } })
    const page = (await response.json()) as { events: (ParleyEvent & { seq: number })[]; next: number }
    for (const event of page.events) if (event.type === 'moderated' && event.target === target && predicate(event)) return event
    after = page.next
  }
  throw new Error(`no moderated event about ${target}`)
}

/** The moderated events about `target`. */
export async function decisionsAbout(server: Pick<TestServer, 'httpUrl' | 'token'>, user: string, conversationId: string, target: string): Promise<ModeratedEvent[]> {
  return (await events(server, user, conversationId)).filter((event): event is ModeratedEvent & { seq: number } => event.type === 'moderated' && event.target === target)
}
