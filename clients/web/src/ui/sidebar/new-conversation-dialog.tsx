/**
 * Starts a conversation on this device (offline too): a title and the members' user names.
 * One member and no title makes a direct conversation; anything else a group.
 */
import { useState } from 'preact/hooks'
import { parseMembers } from '../../data/names.ts'
import { Dialog } from '../dialog.tsx'
import { openConversation } from '../route.ts'
import { useServices } from '../services.ts'

export function NewConversationDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  return (
    <Dialog open={open} onClose={onClose} title="New conversation">
      <NewConversationForm onDone={onClose} />
    </Dialog>
  )
}

function NewConversationForm({ onDone }: { onDone: () => void }) {
  const { client, user } = useServices()
  const [title, setTitle] = useState('')
  const [members, setMembers] = useState('')
  const [error, setError] = useState('')
  const create = async (event: Event): Promise<void> => {
    event.preventDefault()
    const names = parseMembers(members, user)
    try {
      const kind = names.length === 1 && title.trim() === '' ? 'direct' : 'group'
      const conversation = await client.createConversation({ kind, title: title.trim(), members: names })
      onDone()
      openConversation(conversation.id)
    } catch (cause) {
      setError((cause as Error).message)
    }
  }
  return (
    <form class="dialog-form" onSubmit={create}>
      <label for="new-title">Title (optional)</label>
      <input id="new-title" name="title" value={title} onInput={event => setTitle(event.currentTarget.value)} placeholder="Lunch plans" />
      <label for="new-members">Members</label>
      <input id="new-members" name="members" value={members} onInput={event => setMembers(event.currentTarget.value)} placeholder="bob, carol" aria-describedby="new-members-hint" />
      <p class="hint" id="new-members-hint">
        User names, separated by commas or spaces. You can add more people later.
      </p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="dialog-actions">
        <button type="button" class="secondary" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" class="primary">
          Create
        </button>
      </div>
    </form>
  )
}
