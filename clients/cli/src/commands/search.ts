/**
 * `parley search QUERY [--conversation ID] [--author USER] [--before T] [--after T] [--limit N] [--json]`:
 * full-text search over the messages on this device (docs/search.md), newest first, after
 * a sync when a server is given. A line per result; on a terminal the matched words are
 * bold. `--json`: `{conversation, id, author, at, text, matches}` per line.
 */
import type { ParleyClient, SearchResult } from '@parley/client'
import { UsageError, type Invocation } from '../args.ts'
import { timeOf } from '../format.ts'
import { processOutput, type Output } from '../io.ts'
import { syncIfReachable } from '../session.ts'

/** An ISO date or date-time (`2026-12-05`, `2026-12-05T09:30`), or ms since the epoch. */
export function parseTime(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value)
  if (!Number.isFinite(ms)) throw new UsageError(`--${flag} must be an ISO date/time or ms since the epoch, got ${JSON.stringify(value)}`)
  return ms
}

export function highlighted(result: SearchResult, mark: (word: string) => string): string {
  let text = ''
  let at = 0
  for (const [start, end] of result.matches) {
    text += result.text.slice(at, start) + mark(result.text.slice(start, end))
    at = end
  }
  return text + result.text.slice(at)
}

export async function search(client: ParleyClient, invocation: Invocation, output: Output): Promise<number> {
  const { conversation, author, before, after } = invocation.search
  const options = {
    conversation,
    author,
    before: parseTime('before', before),
    after: parseTime('after', after),
    limit: invocation.limit === undefined ? undefined : Math.floor(invocation.limit),
  }
  if (invocation.servers.length > 0) await syncIfReachable(client, invocation, output)
  const results = await client.search(invocation.args[0]!, Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)))
  const mark = output === processOutput && process.stdout.isTTY ? (word: string) => `\u001b[1m${word}\u001b[22m` : (word: string) => word
  const titles = new Map(client.conversations().map(summary => [summary.id, summary.title || summary.id]))
  for (const result of results) {
    if (invocation.json) {
      const { conversation, id, author, at, text, matches } = result
      output.out(JSON.stringify({ conversation, id, author, at, text, matches }))
    } else {
      output.out(`[${timeOf(result.at)}] ${titles.get(result.conversation) ?? result.conversation} · ${result.author}: ${highlighted(result, mark)}`)
    }
  }
  if (results.length === 0 && !invocation.json) output.err('no messages on this device match')
  return 0
}
