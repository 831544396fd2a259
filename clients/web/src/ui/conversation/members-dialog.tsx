/** The members and their roles; owners and admins add people here (offline too: it syncs later). */
import type { Conversation } from '@parley/client'
import type { Head } from '@parley/core'
import { useState } from 'preact/hooks'
import { Avatar } from '../avatar.tsx'
import { Dialog } from '../dialog.tsx'
import { useServices } from '../services.ts'

export function MembersDialog(props: { conversation: Conversation; head: Head; open: boolean; onClose: () => void }) {
  return (
    <Dialog open={props.open} onClose={props.onClose} title="Members">
      <Members {...props} />
    </Dialog>
  )
}

function Members({ conversation, head, onClose }: { conversation: Conversation; head: Head; onClose: () => void }) {
  const { user } = useServices()
  const [name, setName] = useState('')
  const [error, setError] = useState('')
  const myRole = head.members[user]?.role
  const mayAdd = myRole === 'owner' || myRole === 'admin'
  const add = async (event: Event): Promise<void> => {
    event.preventDefault()
    const member = name.trim()
    if (head.members[member]) return setError(`${member} is already a member.`)
    try {
      await conversation.addMember(member)
      setName('')
      setError('')
    } catch (cause) {
      setError((cause as Error).message)
    }
  }
  return (
    <div class="dialog-form">
      <ul class="member-list">
        {Object.entries(head.members)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([member, { role }]) => (
            <li key={member}>
              <Avatar name={member} size="small" />
              <span>
                {member}
                {member === user ? ' (you)' : ''}
              </span>
              <span class="role">{role}</span>
            </li>
          ))}
      </ul>
      {mayAdd ? (
        <form class="add-member" onSubmit={add}>
          <label for="add-member">Add a member</label>
          <div class="inline-field">
            <input id="add-member" name="member" required pattern="\S+" title="A user name, no spaces" value={name} onInput={event => setName(event.currentTarget.value)} placeholder="user name" />
            <button type="submit" class="primary">
              Add
            </button>
          </div>
        </form>
      ) : (
        <p class="hint">Only the conversation’s owners and admins add members.</p>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="dialog-actions">
        <button type="button" class="secondary" onClick={onClose}>
          Close
        </button>
      </div>
    </div>
  )
}
