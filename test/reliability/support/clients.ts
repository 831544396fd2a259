import { createClient, type Conversation, type ParleyClient } from '@parley/client'

/** Fast reconnects keep tests short; the policy itself is unit-tested with fake timers. */
export const FAST_RECONNECT = { minMs: 50, maxMs: 500 }

export interface Endpoint {
  url: string
  token(user: string): Promise<string>
}

/** `segmentSize` below the default makes segment rollover (and concurrent new segments) frequent. */
export async function connectClient(server: Endpoint, user: string, options: { dir?: string; segmentSize?: number } = {}): Promise<ParleyClient> {
  return createClient({
    server: server.url,
    token: () => server.token(user),
    storage: options.dir ? { kind: 'level', dir: options.dir } : { kind: 'memory' },
    reconnect: FAST_RECONNECT,
    ...(options.segmentSize !== undefined && { segmentSize: options.segmentSize }),
  })
}

/** Every message text of a conversation, oldest first, after paging in all of its history. */
export async function allTexts(conversation: Conversation): Promise<string[]> {
  while (conversation.hasOlder()) await conversation.loadOlder(1000)
  return conversation.timeline().map(item => item.text ?? '')
}

/** Metric value from a Prometheus text exposition: `name` with exactly `labels` (e.g. `{code="4408"}`), or the first series of `name`. */
export function metricValue(text: string, name: string, labels?: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    const series = line.slice(0, space)
    if (labels === undefined ? series === name || series.startsWith(`${name}{`) : series === `${name}${labels}`) return Number(line.slice(space + 1))
  }
  return Number.NaN
}

export async function scrape(httpUrl: string): Promise<string> {
  return (await fetch(`${httpUrl}/metrics`)).text()
}
