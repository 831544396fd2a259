/** The conversation list, newest activity first, and the button that starts a new one. */
import { useState } from 'preact/hooks'
import { useRows } from '../../data/hooks.ts'
import { SearchBox, SearchResults } from '../search/search-panel.tsx'
import { useServices } from '../services.ts'
import { ConversationList } from './conversation-list.tsx'
import { NewConversationDialog } from './new-conversation-dialog.tsx'

export function Sidebar({ open }: { open: string | undefined }) {
  const { directory } = useServices()
  const rows = useRows(directory)
  const [creating, setCreating] = useState(false)
  const [query, setQuery] = useState('')
  return (
    <nav class="sidebar" aria-label="Conversations">
      <div class="sidebar-head">
        <h2>Chats</h2>
        <button class="primary small" onClick={() => setCreating(true)}>
          <span aria-hidden="true">+ </span>New conversation
        </button>
      </div>
      <SearchBox query={query} setQuery={setQuery} />
      {query.trim() ? (
        <SearchResults query={query} rows={rows} />
      ) : rows.length === 0 ? (
        <p class="sidebar-empty">No conversations yet. Start one, or ask someone to add you to theirs: it shows up here as soon as you are online.</p>
      ) : (
        <ConversationList rows={rows} open={open} />
      )}
      <NewConversationDialog open={creating} onClose={() => setCreating(false)} />
    </nav>
  )
}
