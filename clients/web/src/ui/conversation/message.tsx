/**
 * One message: own messages on the right with their delivery state (saved on this
 * device, or reached the server), others on the left with the author's name; edited
 * and deleted markers, reactions, "seen by", and the actions (react; edit and delete
 * for the author). A message removed by moderation shows as such, with the reason to its
 * author only (docs/moderation.md).
 */
import { isRemovedByModeration, moderationNotice, type Conversation, type TimelineItem } from '@parley/client'
import { useRef, useState } from 'preact/hooks'
import { Avatar } from '../avatar.tsx'
import { fullTimeOf, timeOf } from '../format.ts'
import { useServices } from '../services.ts'
import { AttachmentView } from './attachment.tsx'
import { DeliveryMark } from './delivery-mark.tsx'
import { EditForm } from './edit-form.tsx'
import { ReactionPicker, Reactions } from './reactions.tsx'

interface Props {
  conversation: Conversation
  item: TimelineItem
  mine: boolean
  /** Same author as the message before, shortly before: no name and avatar again. */
  grouped: boolean
  /** Written here and not yet confirmed by the server. */
  pending: boolean
  seenBy: string[] | undefined
  editing: boolean
  setEditing: (id: string | undefined) => void
  /** Asks to delete this message (the timeline confirms first). */
  onDelete: (item: TimelineItem) => void
}

export function Message({ conversation, item, mine, grouped, pending, seenBy, editing, setEditing, onDelete }: Props) {
  const editButton = useRef<HTMLButtonElement>(null)
  const { user } = useServices()
  const removed = isRemovedByModeration(item)
  const notice = moderationNotice(item, user)
  const [error, setError] = useState('')
  const run = (action: Promise<unknown>): void => void action.then(() => setError(''), (cause: Error) => setError(cause.message))
  const stopEditing = (): void => {
    setEditing(undefined)
    // Back to where the edit started, for keyboard users.
    requestAnimationFrame(() => editButton.current?.focus())
  }
  const state = mine ? (pending ? 'local' : 'server') : 'server'
  return (
    <li class={`message ${mine ? 'mine' : 'theirs'} ${grouped ? 'grouped' : ''}`} data-id={item.id} data-author={item.author} data-state={state}>
      {!mine && (grouped ? <span class="avatar-space" /> : <Avatar name={item.author} />)}
      <div class="message-body">
        {!mine && !grouped && <span class="author">{item.author}</span>}
        <div class={`bubble ${item.deleted || removed ? 'deleted' : ''} ${removed ? 'moderated' : ''}`}>
          {editing ? (
            <EditForm
              text={item.text}
              onSave={text => {
                if (text !== item.text) run(conversation.edit(item.id, text))
                stopEditing()
              }}
              onCancel={stopEditing}
            />
          ) : item.deleted ? (
            <p class="text">This message was deleted</p>
          ) : removed ? (
            <p class="text">{notice}</p>
          ) : (
            <>
              {item.attachment && <AttachmentView conversation={conversation} item={item} attachment={item.attachment} mine={mine} />}
              {(item.text !== '' || !item.attachment) && <p class="text">{item.text}</p>}
            </>
          )}
          <span class="meta">
            {item.edited && <span class="edited">edited</span>}
            <time dateTime={new Date(item.at).toISOString()} title={fullTimeOf(item.at)}>
              {timeOf(item.at)}
            </time>
            {mine && <DeliveryMark pending={pending} />}
          </span>
        </div>
        {!removed && notice && <p class="moderation-note">{notice}</p>}
        {!removed && <Reactions item={item} conversation={conversation} onError={setError} />}
        {seenBy && <p class="seen-by">Seen by {seenBy.join(', ')}</p>}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </div>
      {!item.deleted && !removed && !editing && (
        <div class="actions" role="group" aria-label={`Actions for the message from ${mine ? 'you' : item.author} at ${timeOf(item.at)}`}>
          <ReactionPicker item={item} conversation={conversation} onError={setError} />
          {mine && (
            <>
              <button ref={editButton} class="action" onClick={() => setEditing(item.id)}>
                Edit
              </button>
              <button class="action" onClick={() => onDelete(item)}>
                Delete
              </button>
            </>
          )}
        </div>
      )}
    </li>
  )
}
