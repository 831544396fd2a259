import type { Conversation } from '@parley/client'
import { useTyping } from '@parley/react'

function sentence(users: string[]): string {
  if (users.length === 0) return ''
  if (users.length === 1) return `${users[0]} is typing…`
  if (users.length === 2) return `${users[0]} and ${users[1]} are typing…`
  return `${users.length} people are typing…`
}

export function TypingIndicator({ conversation }: { conversation: Conversation }) {
  const users = useTyping(conversation.id)
  return (
    <p class="typing" aria-live="polite" data-typing={users.join(',')}>
      {users.length > 0 && <span class="typing-dots" aria-hidden="true" />}
      {sentence(users)}
    </p>
  )
}
