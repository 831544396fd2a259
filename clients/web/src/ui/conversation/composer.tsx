/**
 * Writing a message: Enter sends, Shift+Enter starts a new line, ArrowUp in an empty box
 * edits your last message. Files go with the attach button or by dropping them on the
 * composer (docs/attachments.md). Sending stores the message on this device at once (offline
 * too); the outbox tracks it until the server has it. Typing is announced to the others.
 */
import { isShown, type Conversation, type TimelineItem } from '@parley/client'
import { useEffect, useRef, useState } from 'preact/hooks'
import { useServices } from '../services.ts'
import { prepareFile } from '../../data/file-input.ts'

interface Props {
  conversation: Conversation
  title: string
  timeline: TimelineItem[]
  onEditLast: (id: string) => void
}

export function Composer({ conversation, title, timeline, onEditLast }: Props) {
  const { outbox, user } = useServices()
  const [text, setText] = useState('')
  const [error, setError] = useState('')
  const input = useRef<HTMLTextAreaElement>(null)
  const picker = useRef<HTMLInputElement>(null)
  const [dragging, setDragging] = useState(false)
  useEffect(() => {
    input.current?.focus()
    return () => conversation.setTyping(false)
  }, [conversation])

  const send = async (): Promise<void> => {
    const message = text.trim()
    if (!message) return
    setText('')
    // Sending ends the typing indicator by itself (the SDK's typing.ts): no "stopped" to send.
    let held: string | undefined
    try {
      // Held from the moment it has an ID, with its text: a reload before the save finishes
      // still shows it unsent, and the next start writes it again (data/outbox.ts).
      outbox.add(await conversation.send(message, { onId: id => outbox.hold((held = id), { conversation: conversation.id, text: message }) }))
      setError('')
    } catch (cause) {
      // The text goes back to the composer: not also sent again on the next start.
      if (held !== undefined) outbox.drop(held)
      setText(message)
      setError((cause as Error).message)
    }
  }

  const sendFiles = async (files: Iterable<File>): Promise<void> => {
    try {
      for (const file of files) {
        const { file: input, image } = await prepareFile(file)
        outbox.add(await conversation.sendFile(input, image))
      }
      setError('')
    } catch (cause) {
      setError((cause as Error).message)
    }
  }

  return (
    <form
      class={`composer ${dragging ? 'dragging' : ''}`}
      onDragOver={event => {
        if (!event.dataTransfer?.types.includes('Files')) return
        event.preventDefault()
        setDragging(true)
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={event => {
        const files = event.dataTransfer?.files
        setDragging(false)
        if (!files || files.length === 0) return
        event.preventDefault()
        void sendFiles(Array.from(files))
      }}
      onSubmit={event => {
        event.preventDefault()
        void send()
      }}
    >
      <label class="visually-hidden" for="composer-input">
        Message {title}
      </label>
      <textarea
        id="composer-input"
        ref={input}
        rows={1}
        placeholder={`Message ${title}`}
        value={text}
        aria-describedby={error ? 'composer-error' : undefined}
        onInput={event => {
          const value = event.currentTarget.value
          setText(value)
          conversation.setTyping(value.trim() !== '')
        }}
        onBlur={() => conversation.setTyping(false)}
        onKeyDown={event => {
          if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
            event.preventDefault()
            void send()
          } else if (event.key === 'ArrowUp' && text === '') {
            const last = timeline.findLast(item => item.author === user && isShown(item))
            if (last) {
              event.preventDefault()
              onEditLast(last.id)
            }
          }
        }}
      />
      <button type="submit" class="primary send" disabled={text.trim() === ''}>
        Send
      </button>
      <input
        ref={picker}
        type="file"
        multiple
        hidden
        aria-label="Files to send"
        onChange={event => {
          const files = Array.from(event.currentTarget.files ?? [])
          event.currentTarget.value = ''
          void sendFiles(files)
        }}
      />
      {/* After Send: Tab goes from the text to Send first (the keyboard order the app keeps). */}
      <button type="button" class="attach" aria-label="Attach a file" title="Attach a file" onClick={() => picker.current?.click()}>
        📎
      </button>
      {error && (
        <p class="error" id="composer-error" role="alert">
          {error}
        </p>
      )}
    </form>
  )
}
