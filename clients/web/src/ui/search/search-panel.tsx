/**
 * Search on the device (docs/search.md): a search box over the conversation list; while
 * it holds a query, the list gives way to the matching messages, newest first, the
 * matched words marked. A result opens its conversation at that message (jump.ts).
 * Results follow new messages: they are looked up again whenever the list changes.
 */
import type { SearchResult } from '@parley/client'
import { useEffect, useMemo, useState } from 'preact/hooks'
import type { ConversationRow } from '../../data/directory.ts'
import { listStamp } from '../format.ts'
import { conversationHref } from '../route.ts'
import { useServices } from '../services.ts'
import { requestJump } from './jump.ts'

const LIMIT = 50

export function SearchBox({ query, setQuery }: { query: string; setQuery: (query: string) => void }) {
  return (
    <div class="search-box">
      <input
        type="search"
        aria-label="Search messages"
        placeholder="Search messages"
        value={query}
        maxLength={200}
        onInput={event => setQuery(event.currentTarget.value)}
        onKeyDown={event => event.key === 'Escape' && setQuery('')}
      />
    </div>
  )
}

export function SearchResults({ query, rows }: { query: string; rows: ConversationRow[] }) {
  const { client, user } = useServices()
  const [results, setResults] = useState<SearchResult[]>()
  useEffect(() => {
    let current = true
    client.search(query, { limit: LIMIT }).then(
      found => current && setResults(found),
      () => current && setResults([]),
    )
    return () => void (current = false)
  }, [client, query, rows])
  const titles = useMemo(() => new Map(rows.map(row => [row.id, row.title])), [rows])
  return (
    <section class="search-results" aria-label="Search results">
      <p class="search-count" role="status">
        {results === undefined ? 'Searching…' : results.length === 0 ? 'No messages on this device match.' : results.length === LIMIT ? `The newest ${LIMIT} matches` : `${results.length} ${results.length === 1 ? 'match' : 'matches'}`}
      </p>
      <ul>
        {results?.map(result => (
          <li key={result.id}>
            <a
              class="search-result"
              href={conversationHref(result.conversation)}
              data-conversation={result.conversation}
              data-message={result.id}
              onClick={() => requestJump(result.conversation, result.id)}
            >
              <span class="result-head">
                <span class="result-title">{titles.get(result.conversation) ?? 'Conversation'}</span>
                <time dateTime={new Date(result.at).toISOString()}>{listStamp(result.at)}</time>
              </span>
              <span class="result-text">
                <span class="result-author">{result.author === user ? 'You' : result.author}: </span>
                <Highlighted result={result} />
              </span>
            </a>
          </li>
        ))}
      </ul>
    </section>
  )
}

function Highlighted({ result }: { result: SearchResult }) {
  const parts = []
  let at = 0
  for (const [start, end] of result.matches) {
    if (start > at) parts.push(result.text.slice(at, start))
    parts.push(<mark key={start}>{result.text.slice(start, end)}</mark>)
    at = end
  }
  parts.push(result.text.slice(at))
  return <>{parts}</>
}
