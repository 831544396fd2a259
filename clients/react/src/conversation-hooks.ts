import type { Conversation, Head, TimelineItem } from '@parley/client'
import { useCallback, useSyncExternalStore } from 'react'
import { useClient } from './context.ts'
import { noop, useExternalValue } from './external.ts'
import { openings, type Opening } from './openings.ts'

export type { Opening } from './openings.ts'

/**
 * Opens the conversation `id` (from this device, or the server): `{ state: 'opening' }`,
 * then `{ state: 'open', conversation }`, or `{ state: 'failed', error }` (tried again
 * when the client comes online). Re-renders only when that state changes.
 */
export function useConversation(id: string): Opening {
  const store = openings(useClient())
  const subscribe = useCallback((changed: () => void) => store.subscribe(id, changed), [store, id])
  const getSnapshot = useCallback(() => store.get(id), [store, id])
  return useSyncExternalStore(subscribe, getSnapshot, getSnapshot)
}

function useOpen(id: string): Conversation | undefined {
  const opening = useConversation(id)
  return opening.state === 'open' ? opening.conversation : undefined
}

const EMPTY: TimelineItem[] = []
const NOBODY: string[] = []

/** The loaded timeline of `id`, oldest first (empty while it opens). Re-renders when it changes. */
export function useTimeline(id: string): TimelineItem[] {
  const conversation = useOpen(id)
  return useExternalValue(
    conversation,
    changed => {
      if (!conversation) return noop
      const unsubscribe = conversation.subscribe(changed)
      return () => void unsubscribe()
    },
    () => conversation?.timeline() ?? EMPTY,
    sameTimeline,
  )
}

/**
 * The SDK projects a new timeline on every change to the conversation, also one that
 * shows nothing new (a `title-changed` event, a read receipt): the items decide.
 */
function sameTimeline(a: TimelineItem[], b: TimelineItem[]): boolean {
  return a === b || (a.length === b.length && a.every((item, i) => item === b[i] || JSON.stringify(item) === JSON.stringify(b[i])))
}

/** The head of `id` (title, members, read receipts, segments); undefined while it opens. */
export function useHead(id: string): Head | undefined {
  const conversation = useOpen(id)
  return useExternalValue(
    conversation,
    changed => {
      if (!conversation) return noop
      conversation.on('head', changed)
      return () => void conversation.off('head', changed)
    },
    () => conversation?.head(),
    (a, b) => a === b || (a !== undefined && b !== undefined && JSON.stringify(a) === JSON.stringify(b)),
  )
}

/** Who else is typing in `id`, sorted. Re-renders only when that changes. */
export function useTyping(id: string): string[] {
  const conversation = useOpen(id)
  return useExternalValue(
    conversation,
    changed => {
      if (!conversation) return noop
      conversation.on('typing', changed)
      return () => void conversation.off('typing', changed)
    },
    () => conversation?.typingUsers() ?? NOBODY,
    (a, b) => a.length === b.length && a.every((user, i) => user === b[i]),
  )
}
