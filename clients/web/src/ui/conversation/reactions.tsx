/** Reaction chips under a message (press one to add or take back yours) and the picker to add one. */
import { isShown, type Conversation, type TimelineItem } from '@parley/client'
import { useRef, useState } from 'preact/hooks'
import { useServices } from '../services.ts'

export const REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '😢'] as const

interface Props {
  item: TimelineItem
  conversation: Conversation
  onError: (message: string) => void
}

function toggle({ item, conversation, onError }: Props, emoji: string, user: string): void {
  const mine = item.reactions[emoji]?.includes(user) ?? false
  conversation.react(item.id, emoji, mine ? { remove: true } : {}).then(
    () => onError(''),
    (error: Error) => onError(error.message),
  )
}

export function Reactions(props: Props) {
  const { user } = useServices()
  const entries = Object.entries(props.item.reactions)
  if (entries.length === 0 || !isShown(props.item)) return null
  return (
    <ul class="reactions" aria-label="Reactions">
      {entries.map(([emoji, users]) => (
        <li key={emoji}>
          <button class="reaction" aria-pressed={users.includes(user)} title={users.join(', ')} onClick={() => toggle(props, emoji, user)}>
            <span aria-hidden="true">{emoji}</span> {users.length}
            <span class="visually-hidden">
              {' '}
              {emoji} from {users.join(', ')}
            </span>
          </button>
        </li>
      ))}
    </ul>
  )
}

export function ReactionPicker(props: Props) {
  const { user } = useServices()
  const [open, setOpen] = useState(false)
  const button = useRef<HTMLButtonElement>(null)
  const close = (): void => {
    setOpen(false)
    button.current?.focus()
  }
  return (
    <span
      class="reaction-picker"
      onFocusOut={event => {
        // Focus (or a click) went elsewhere: fold the palette away.
        if (!event.currentTarget.contains(event.relatedTarget as Node | null)) setOpen(false)
      }}
    >
      <button ref={button} class="action" aria-expanded={open} onClick={() => setOpen(!open)}>
        React
      </button>
      {open && (
        <span
          class="reaction-palette"
          role="group"
          aria-label="Pick a reaction"
          onKeyDown={event => {
            if (event.key === 'Escape') close()
          }}
        >
          {REACTIONS.map(emoji => (
            <button
              key={emoji}
              class="emoji"
              aria-label={`React with ${emoji}`}
              onClick={() => {
                toggle(props, emoji, user)
                close()
              }}
            >
              {emoji}
            </button>
          ))}
        </span>
      )}
    </span>
  )
}
