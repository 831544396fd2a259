/**
 * The messages, oldest at the top, with a separator for each day. Only the newest page
 * is rendered at first; scrolling to the top (or the "Show older" button) renders more
 * of what is loaded and, past that, pages older segments in with `loadOlder`. The view
 * stays at the bottom while new messages arrive, and keeps its place when older ones
 * are added above.
 */
import type { Conversation, TimelineItem } from '@parley/client'
import type { Head } from '@parley/core'
import { useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks'
import { useOutbox } from '../../data/hooks.ts'
import { dayKey, dayLabel } from '../format.ts'
import { useJumpToMessage } from '../search/jump.ts'
import { useServices } from '../services.ts'
import { DeleteDialog } from './delete-dialog.tsx'
import { Message } from './message.tsx'
import { seenBy } from './seen-by.ts'

const PAGE = 50
/** Within this distance of the top, scrolling shows older messages. */
const NEAR_TOP_PX = 150
/** Consecutive messages of one author within this time share one header. */
const GROUP_MS = 5 * 60_000

interface Props {
  conversation: Conversation
  timeline: TimelineItem[]
  head: Head
  editing: string | undefined
  setEditing: (id: string | undefined) => void
}

export function Timeline({ conversation, timeline, head, editing, setEditing }: Props) {
  const { user, outbox } = useServices()
  useOutbox(outbox)
  const [shown, setShown] = useState(PAGE)
  const scroller = useRef<HTMLDivElement>(null)
  const atBottom = useRef(true)
  const loading = useRef(false)
  const [loadingOlder, setLoadingOlder] = useState(false)
  const [deleting, setDeleting] = useState<TimelineItem>()
  const [deleteError, setDeleteError] = useState('')
  /** Set before older messages are added: where the view was, measured from the bottom. */
  const anchor = useRef<{ fromBottom: number; first: string | undefined }>()
  const visible = timeline.slice(-shown)
  const hasOlder = timeline.length > shown || conversation.hasOlder()
  const seen = useMemo(() => seenBy(timeline, head.reads, user), [timeline, head.reads, user])
  useJumpToMessage({ conversation, timeline, shown, setShown, scroller, atBottom })

  const showOlder = async (): Promise<void> => {
    const element = scroller.current
    if (loading.current || !element || !hasOlder) return
    loading.current = true
    anchor.current = { fromBottom: element.scrollHeight - element.scrollTop, first: visible[0]?.id }
    try {
      if (timeline.length <= shown) {
        setLoadingOlder(true)
        await conversation.loadOlder(PAGE)
      }
      setShown(count => count + PAGE)
    } finally {
      loading.current = false
      setLoadingOlder(false)
    }
  }

  useLayoutEffect(() => {
    const element = scroller.current
    if (!element) return
    const kept = anchor.current
    if (kept && kept.first !== visible[0]?.id) {
      element.scrollTop = element.scrollHeight - kept.fromBottom
      anchor.current = undefined
    } else if (!kept && atBottom.current) {
      element.scrollTop = element.scrollHeight
    }
  })

  const onScroll = (): void => {
    const element = scroller.current!
    atBottom.current = element.scrollHeight - element.scrollTop - element.clientHeight < 40
    if (element.scrollTop < NEAR_TOP_PX) void showOlder()
  }

  return (
    <div class="timeline" ref={scroller} onScroll={onScroll} tabIndex={0} role="region" aria-label="Messages" data-rendered={visible.length} data-loaded={timeline.length}>
      <div class="timeline-top">
        {hasOlder ? (
          <button class="quiet small" onClick={() => void showOlder()} disabled={loadingOlder}>
            {loadingOlder ? 'Loading older messages…' : 'Show older messages'}
          </button>
        ) : (
          <p>{timeline.length === 0 ? 'No messages yet. Say hello!' : 'This is the start of the conversation.'}</p>
        )}
      </div>
      <ol class="messages">
        {visible.map((item, index) => {
          const previous = visible[index - 1]
          const newDay = !previous || dayKey(previous.at) !== dayKey(item.at)
          const grouped = !newDay && previous!.author === item.author && item.at - previous!.at < GROUP_MS
          return [
            newDay && (
              <li class="day-separator" key={`day-${dayKey(item.at)}`}>
                <span>{dayLabel(item.at)}</span>
              </li>
            ),
            <Message
              key={item.id}
              conversation={conversation}
              item={item}
              mine={item.author === user}
              grouped={grouped}
              pending={outbox.has(item.id)}
              seenBy={seen.get(item.id)}
              editing={editing === item.id}
              setEditing={setEditing}
              onDelete={setDeleting}
            />,
          ]
        })}
      </ol>
      {deleteError && (
        <p class="error" role="alert">
          {deleteError}
        </p>
      )}
      <DeleteDialog
        item={deleting}
        onClose={() => setDeleting(undefined)}
        onConfirm={item => conversation.delete(item.id).then(() => setDeleteError(''), (error: Error) => setDeleteError(error.message))}
      />
    </div>
  )
}
