/** Inline editing: Enter saves, Shift+Enter starts a new line, Escape cancels. */
import { useLayoutEffect, useRef, useState } from 'preact/hooks'

export function EditForm({ text, onSave, onCancel }: { text: string; onSave: (text: string) => void; onCancel: () => void }) {
  const [value, setValue] = useState(text)
  const input = useRef<HTMLTextAreaElement>(null)
  // Focused with the caret at the end as it mounts, before the browser paints: after the
  // paint (useEffect), a selection made by then (Ctrl+A, a test's fill) was collapsed to
  // the end, and the new text was typed after the old one.
  useLayoutEffect(() => {
    const field = input.current
    field?.focus()
    field?.setSelectionRange(field.value.length, field.value.length)
  }, [])
  const save = (): void => {
    // The field's own value: Enter can come before the render that follows the last input
    // event, whose closure would still hold the text before it.
    const text = (input.current?.value ?? value).trim()
    if (text) onSave(text)
    else onCancel()
  }
  return (
    <form
      class="edit-form"
      onSubmit={event => {
        event.preventDefault()
        save()
      }}
    >
      <label class="visually-hidden" for="edit-message">
        Edit message
      </label>
      <textarea
        id="edit-message"
        ref={input}
        rows={2}
        value={value}
        onInput={event => setValue(event.currentTarget.value)}
        onKeyDown={event => {
          if (event.key === 'Escape') {
            event.preventDefault()
            onCancel()
          } else if (event.key === 'Enter' && !event.shiftKey) {
            event.preventDefault()
            save()
          }
        }}
      />
      <div class="edit-actions">
        <span class="hint">Enter to save · Esc to cancel</span>
        <button type="button" class="quiet small" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" class="primary small">
          Save
        </button>
      </div>
    </form>
  )
}
