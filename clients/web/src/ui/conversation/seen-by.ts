/**
 * Read receipts as "seen by": each other member is shown once, under the newest of my
 * messages (not deleted, not removed by moderation) their read cursor has reached. A cursor on a message not loaded here (an
 * older page) counts up to the receipt's own time.
 */
import { isShown, type TimelineItem } from '@parley/client'
import type { ReadEvent } from '@parley/core'

export function seenBy(timeline: readonly TimelineItem[], reads: Record<string, ReadEvent>, me: string): Map<string, string[]> {
  const seen = new Map<string, string[]>()
  for (const [reader, receipt] of Object.entries(reads)) {
    if (reader === me) continue
    let reached = timeline.findIndex(item => item.id === receipt.target)
    if (reached < 0) reached = timeline.findLastIndex(item => item.at <= receipt.at)
    for (let i = reached; i >= 0; i--) {
      const item = timeline[i]!
      if (item.author !== me || !isShown(item)) continue
      seen.set(item.id, [...(seen.get(item.id) ?? []), reader].sort())
      break
    }
  }
  return seen
}
