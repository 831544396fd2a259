/** The Parley side of the ingest tests: conversations made and read over HTTP, and the metrics. */
import { setTimeout as sleep } from 'node:timers/promises'

export interface Http {
  httpUrl: string
  token(user: string): Promise<string>
}

async function call(server: Http, user: string, method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${server.httpUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${await server.token(user)}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  const json = await response.json()
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`)
  return json
}

/** A conversation `owner` creates with `members`; its ID. */
export async function createConversation(server: Http, owner: string, members: string[]): Promise<string> {
  return (await call(server, owner, 'POST', '/v1/conversations', { kind: 'group', title: 'ingest', members })).id
}

export interface ApiEvent {
  seq: number
  id: string
  type: string
  author: string
  text?: string
  priority?: string
}

/** Every event of the conversation, as a member reads them over HTTP. */
export async function events(server: Http, reader: string, conversationId: string): Promise<ApiEvent[]> {
  return (await call(server, reader, 'GET', `/v1/conversations/${conversationId}/events?after=0&limit=500`)).events
}

/** The conversation's message events, once there are `count` of them (long polls until then). */
export async function messagesWhen(server: Http, reader: string, conversationId: string, count: number): Promise<ApiEvent[]> {
  for (;;) {
    const all = await events(server, reader, conversationId)
    const messages = all.filter(event => event.type === 'message')
    if (messages.length >= count) return messages
    const last = all.at(-1)?.seq ?? 0
    await call(server, reader, 'GET', `/v1/conversations/${conversationId}/events?after=${last}&limit=1&wait=5`)
  }
}

/** A sample's value from /metrics (0 when absent). */
export async function metric(server: Pick<Http, 'httpUrl'>, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${server.httpUrl}/metrics`)).text()
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`)
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    const labelText = line.slice(name.length, line.lastIndexOf(' '))
    if (wanted.every(pair => labelText.includes(pair))) return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return 0
}

/** Polls /metrics until the sample reaches `value` (the test's own timeout bounds the wait). */
export async function metricReaches(server: Pick<Http, 'httpUrl'>, name: string, labels: Record<string, string>, value: number): Promise<void> {
  while ((await metric(server, name, labels)) < value) await sleep(50)
}
