/** User names as people type them, and conversations as the list names them. */
import type { Head } from '@parley/core'

/** "bob, carol dave" → ['bob', 'carol', 'dave']: commas or spaces, no duplicates, never yourself. */
export function parseMembers(text: string, me: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter(name => name !== '' && name !== me))]
}

/** A conversation's name: its title, else the other members, else "Just you". */
export function conversationTitle(head: Pick<Head, 'title' | 'members'>, me: string): string {
  if (head.title) return head.title
  const others = Object.keys(head.members)
    .filter(user => user !== me)
    .sort()
  return others.length > 0 ? others.join(', ') : 'Just you'
}
