import { isRemovedByModeration, moderationNotice, type TimelineItem } from '@parley/client'

/**
 * The `--json` line shape: `{id, author, text, at, edited?, deleted?, moderation?, attachment?}`;
 * `moderation` is `{decision, reason?}`, the reason only for `me`'s own messages (docs/moderation.md).
 */
export function jsonLine(item: TimelineItem, me: string): string {
  const { id, author, text, at, edited, deleted, moderation, attachment } = item
  const decided = moderation && { decision: moderation.decision, ...(author === me && { reason: moderation.reason }), ...(moderation.edit !== undefined && { edit: moderation.edit }) }
  return JSON.stringify({ id, author, text, at, ...(edited ? { edited } : {}), ...(deleted ? { deleted } : {}), ...(decided ? { moderation: decided } : {}), ...(attachment ? { attachment } : {}) })
}

function pad(value: number): string {
  return String(value).padStart(2, '0')
}

export function timeOf(at: number): string {
  const date = new Date(at)
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`
}

/** One message as a line; `me` (the signed-in user) is told why their own message was removed by moderation. */
export function textLine(item: TimelineItem, me: string): string {
  const notice = moderationNotice(item, me)
  const removed = isRemovedByModeration(item)
  const file = item.attachment ? `[file ${item.attachment.name}, ${item.attachment.size} bytes, ${item.attachment.mime}]` : ''
  const text = [file, item.text].filter(Boolean).join(' ')
  const body = item.deleted ? '(deleted)' : removed ? `(${notice})` : `${text}${item.edited ? ' (edited)' : ''}${notice ? ` (${notice})` : ''}`
  const reactions = Object.entries(item.reactions)
    .map(([emoji, users]) => `${emoji}${users.length}`)
    .join(' ')
  return `[${timeOf(item.at)}] ${item.author}: ${body}${reactions ? `  ${reactions}` : ''}`
}
