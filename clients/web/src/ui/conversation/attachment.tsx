/**
 * A file in the timeline (docs/attachments.md): an image's preview (the small data URL
 * its event carries) or the file's name and size; a download button that fetches the
 * bytes through the client (from this device, or the server, then cached); and, to its
 * author until the server has it, the upload's progress, or why it failed with a retry.
 */
import type { Attachment, Conversation, ParleyClient, TimelineItem, UploadState } from '@parley/client'
import { useEffect, useState } from 'preact/hooks'
import { useServices } from '../services.ts'

function sizeOf(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}

/** The upload of `hash` as this device sees it, kept current. */
function useUpload(client: ParleyClient, conversation: Conversation, item: TimelineItem): UploadState | undefined {
  const [state, setState] = useState(() => conversation.uploadState(item.id))
  const hash = item.attachment?.hash
  useEffect(() => {
    const uploads = client.attachments.uploads
    const listener = (next: UploadState): void => {
      if (next.hash === hash) setState(next)
    }
    uploads.on('upload', listener)
    return () => void uploads.off('upload', listener)
  }, [client, hash])
  return state
}

export function AttachmentView({ conversation, item, attachment, mine }: { conversation: Conversation; item: TimelineItem; attachment: Attachment; mine: boolean }) {
  const { client } = useServices()
  const upload = useUpload(client, conversation, item)
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)
  const image = attachment.mime.startsWith('image/') && attachment.preview !== undefined
  const status = mine && upload && upload.status !== 'done' ? upload.status : undefined

  const download = async (): Promise<void> => {
    setBusy(true)
    try {
      const bytes = await conversation.file(item.id)
      const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: attachment.mime }))
      const link = document.createElement('a')
      link.href = url
      link.download = attachment.name
      link.click()
      setTimeout(() => URL.revokeObjectURL(url), 60_000)
      setError('')
    } catch (cause) {
      setError((cause as Error).message)
    } finally {
      setBusy(false)
    }
  }

  return (
    <div class="attachment" data-upload={status ?? 'done'}>
      {image ? (
        <img class="attachment-preview" src={attachment.preview} alt={attachment.name} width={attachment.width} height={attachment.height} />
      ) : (
        <span class="attachment-icon" aria-hidden="true">
          📄
        </span>
      )}
      <span class="attachment-name">{attachment.name}</span>
      <span class="attachment-size">{sizeOf(attachment.size)}</span>
      <button type="button" class="attachment-download" onClick={() => void download()} disabled={busy}>
        Download {attachment.name}
      </button>
      {(status === 'queued' || status === 'uploading') && (
        <label class="attachment-progress">
          {status === 'queued' ? 'Waiting to upload' : 'Uploading'}
          <progress max={upload!.total || 1} value={upload!.sent} />
        </label>
      )}
      {status === 'failed' && (
        <p class="error" role="alert">
          Upload failed: {upload!.error}{' '}
          {/* Still queued: the server could take it later (quota, outage). A refusal of the bytes left the queue. */}
          {client.attachments.uploads.pending().includes(attachment.hash) && (
            <button type="button" onClick={() => client.attachments.uploads.retry(attachment.hash)}>
              Retry
            </button>
          )}
        </p>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </div>
  )
}
