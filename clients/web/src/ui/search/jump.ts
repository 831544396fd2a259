/**
 * Jumping to a message from a search result: the result asks for it here, then opens
 * its conversation; that conversation's timeline renders enough of what is loaded (and
 * pages older segments in while it is not loaded yet), scrolls the message into the
 * middle of the view and marks it (`data-jumped`) until the next jump.
 */
import type { Conversation, TimelineItem } from '@parley/client'
import { useEffect, useLayoutEffect, useRef, useState, type Dispatch, type StateUpdater } from 'preact/hooks'
import type { RefObject } from 'preact'

interface Target {
  conversation: string
  id: string
}

let requested: Target | undefined
const listeners = new Set<() => void>()

export function requestJump(conversation: string, id: string): void {
  requested = { conversation, id }
  for (const listener of listeners) listener()
}

function take(conversation: string): string | undefined {
  if (requested?.conversation !== conversation) return undefined
  const { id } = requested
  requested = undefined
  return id
}

export interface JumpView {
  conversation: Conversation
  timeline: TimelineItem[]
  shown: number
  setShown: Dispatch<StateUpdater<number>>
  scroller: RefObject<HTMLDivElement>
  /** The timeline's "stay at the bottom" flag: cleared so the jump is not undone. */
  atBottom: { current: boolean }
}

export function useJumpToMessage({ conversation, timeline, shown, setShown, scroller, atBottom }: JumpView): void {
  const [target, setTarget] = useState(() => take(conversation.id))
  /** The message jumped to last: marked after every render, as rows may be reused for other messages. */
  const [jumped, setJumped] = useState<string>()
  const loading = useRef(false)
  useLayoutEffect(() => {
    const root = scroller.current
    if (!root) return
    root.querySelectorAll('[data-jumped]').forEach(element => {
      if (element.getAttribute('data-id') !== jumped) element.removeAttribute('data-jumped')
    })
    if (jumped) root.querySelector(`[data-id="${CSS.escape(jumped)}"]`)?.setAttribute('data-jumped', '')
  })
  useEffect(() => {
    const listener = (): void => {
      const id = take(conversation.id)
      if (id) setTarget(id)
    }
    listeners.add(listener)
    return () => void listeners.delete(listener)
  }, [conversation])

  useEffect(() => {
    if (!target) return
    const index = timeline.findIndex(item => item.id === target)
    if (index < 0) {
      if (!conversation.hasOlder()) return setTarget(undefined) // not in this conversation (any more)
      if (loading.current) return
      loading.current = true
      void conversation.loadOlder().finally(() => (loading.current = false))
      return
    }
    const needed = timeline.length - index
    if (needed > shown) return void setShown(needed)
    const element = scroller.current?.querySelector(`[data-id="${CSS.escape(target)}"]`)
    if (!element) return
    atBottom.current = false
    element.scrollIntoView({ block: 'center' })
    setJumped(target)
    setTarget(undefined)
  }, [target, timeline, shown])
}
