/**
 * What a view shows of the server's moderation decisions (docs/moderation.md): core's
 * projection already hides a rejected message (empty `text`, `moderation` set) and leaves
 * out a rejected edit; these say it in words, the same in every front end. Everyone sees
 * that a message was removed; only its author is told why.
 */
import { isShown, type TimelineItem } from '@parley/core'

export const REMOVED_BY_MODERATION = 'Removed by moderation'

/** The notice to show for `item` to the user `me`, or undefined when there is none. */
export function moderationNotice(item: TimelineItem, me: string): string | undefined {
  const moderation = item.moderation
  if (moderation?.decision !== 'rejected') return undefined
  const own = item.author === me
  if (moderation.edit !== undefined) return own ? `Your edit was removed by moderation: ${moderation.reason}` : undefined
  return own ? `${REMOVED_BY_MODERATION}: ${moderation.reason}` : REMOVED_BY_MODERATION
}

/** Removed by the server's moderation (not an edit of it: the message then shows its earlier text). */
export function isRemovedByModeration(item: TimelineItem): boolean {
  return item.moderation?.decision === 'rejected' && item.moderation.edit === undefined
}

export { isShown }
