import type { TimelineItem } from '@parley/client'

/** The `--json` line shape: `{id, author, text, at, edited?, deleted?}`. */
export function jsonLine(item: TimelineItem): string {
  const { id, author, text, at, edited, deleted } = item
  return JSON.stringify({ id, author, text, at, ...(edited ? { edited } : {}), ...(deleted ? { deleted } : {}) })
}

function pad(value: number): string {
  return String(value).padStart(2, '0')
}

export function timeOf(at: number): string {
  const date = new Date(at)
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`
}

export function textLine(item: TimelineItem): string {
  const body = item.deleted ? '(deleted)' : `${item.text}${item.edited ? ' (edited)' : ''}`
  const reactions = Object.entries(item.reactions)
    .map(([emoji, users]) => `${emoji}${users.length}`)
    .join(' ')
  return `[${timeOf(item.at)}] ${item.author}: ${body}${reactions ? `  ${reactions}` : ''}`
}
