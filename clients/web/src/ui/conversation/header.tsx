import type { Conversation } from '@parley/client'
import type { Head } from '@parley/core'
import { useState } from 'preact/hooks'
import { Avatar } from '../avatar.tsx'
import { MembersDialog } from './members-dialog.tsx'

export function ConversationHeader({ conversation, head, title }: { conversation: Conversation; head: Head; title: string }) {
  const [showMembers, setShowMembers] = useState(false)
  const members = Object.keys(head.members).sort()
  return (
    <header class="conversation-head">
      <a class="back" href="#/">
        <span aria-hidden="true">←</span>
        <span class="visually-hidden">Back to conversations</span>
      </a>
      <Avatar name={title} />
      <div class="conversation-title">
        <h1>{title}</h1>
        <p>
          {members.length} {members.length === 1 ? 'member' : 'members'}: {members.join(', ')}
        </p>
      </div>
      <button class="secondary small" onClick={() => setShowMembers(true)}>
        Members
      </button>
      <MembersDialog conversation={conversation} head={head} open={showMembers} onClose={() => setShowMembers(false)} />
    </header>
  )
}
