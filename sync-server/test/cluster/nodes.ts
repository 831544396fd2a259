/** Cluster nodes in this process, on one throwaway Redis, for the cluster tests. */
import type { DocHandle } from '@automerge/automerge-repo'
import { readSegmentEvents, type SegmentDoc } from '@parley/core'
import { startTestServer, type RedisProcess, type TestServer } from '../../src/testing.ts'

/** Fast heartbeats: a node learns of another within a tenth of a second. */
export const TEST_HEARTBEAT_MS = 100

export function startNode(redis: RedisProcess): Promise<TestServer> {
  return startTestServer({ redis: redis.url, clusterHeartbeatMs: TEST_HEARTBEAT_MS })
}

/** Resolves once every node is in a session with every other. */
export async function meshed(nodes: TestServer[]): Promise<void> {
  for (;;) {
    const sessions = await Promise.all(nodes.map(async node => ((await (await fetch(`${node.httpUrl}/healthz`)).json()) as { cluster: { nodes: number } }).cluster.nodes))
    if (sessions.every(count => count === nodes.length - 1)) return
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

export function texts(segment: DocHandle<SegmentDoc>): string[] {
  return readSegmentEvents(segment.doc()).events.flatMap(event => (event.type === 'message' ? [event.text] : []))
}

/** A value of a Prometheus sample in /metrics text (0 when absent). */
export async function metric(node: TestServer, sample: string): Promise<number> {
  const text = await (await fetch(`${node.httpUrl}/metrics`)).text()
  const line = text.split('\n').find(candidate => candidate.startsWith(`${sample} `))
  return line ? Number(line.slice(sample.length + 1)) : 0
}

export async function http(node: TestServer, user: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${node.httpUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${await node.token(user)}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { status: response.status, body: (await response.json().catch(() => ({}))) as Record<string, unknown> }
}

/** An event as the HTTP API serves it (docs/http.md). */
export interface ApiEvent {
  id: string
  seq: number
  type: string
  text?: string
}

/** The server-sent events of a stream as they arrive. */
export async function* sse(response: Response): AsyncGenerator<ApiEvent> {
  const reader = response.body!.getReader()
  const decoder = new TextDecoder()
  let text = ''
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      text += decoder.decode(value, { stream: true })
      let end: number
      while ((end = text.indexOf('\n\n')) >= 0) {
        const block = text.slice(0, end)
        text = text.slice(end + 2)
        const data = block.split('\n').find(line => line.startsWith('data: '))
        if (block.includes('event: event') && data) yield JSON.parse(data.slice('data: '.length)) as ApiEvent
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined)
  }
}
