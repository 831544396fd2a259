/** One confirmation for the whole timeline: deleting cannot be undone, and everyone sees that it happened. */
import type { TimelineItem } from '@parley/client'
import { Dialog } from '../dialog.tsx'

export function DeleteDialog({ item, onConfirm, onClose }: { item: TimelineItem | undefined; onConfirm: (item: TimelineItem) => void; onClose: () => void }) {
  return (
    <Dialog open={item !== undefined} onClose={onClose} title="Delete this message?">
      <p>Everyone in the conversation will see “This message was deleted” instead.</p>
      <div class="dialog-actions">
        <button class="secondary" onClick={onClose}>
          Cancel
        </button>
        <button
          class="danger"
          onClick={() => {
            onConfirm(item!)
            onClose()
          }}
        >
          Delete
        </button>
      </div>
    </Dialog>
  )
}
