import { isRemovedByModeration } from '@parley/client'
import type { ConversationRow } from '../../data/directory.ts'
import { Avatar } from '../avatar.tsx'
import { listStamp } from '../format.ts'
import { conversationHref } from '../route.ts'
import { useServices } from '../services.ts'

function preview(row: ConversationRow, me: string): string {
  if (!row.ready) return 'Not on this device yet: syncs when you are online'
  if (!row.last) return 'No messages yet'
  const who = row.last.author === me ? 'You' : row.last.author
  return `${who}: ${row.last.deleted ? 'message deleted' : isRemovedByModeration(row.last) ? 'removed by moderation' : row.last.text}`
}

export function ConversationList({ rows, open }: { rows: ConversationRow[]; open: string | undefined }) {
  const { user } = useServices()
  return (
    <ul class="conversation-list">
      {rows.map(row => (
        <li key={row.id}>
          <a class={`conversation-row ${row.unread > 0 ? 'has-unread' : ''}`} href={conversationHref(row.id)} aria-current={row.id === open ? 'page' : undefined} data-conversation={row.id}>
            <Avatar name={row.title} />
            <span class="row-main">
              <span class="row-title">{row.title}</span>
              <span class="row-preview">{preview(row, user)}</span>
            </span>
            <span class="row-meta">
              {row.last && <time dateTime={new Date(row.last.at).toISOString()}>{listStamp(row.last.at)}</time>}
              {row.unread > 0 && (
                <span class="unread" data-unread={row.unread}>
                  {row.unread}
                  <span class="visually-hidden"> unread</span>
                </span>
              )}
            </span>
          </a>
        </li>
      ))}
    </ul>
  )
}
