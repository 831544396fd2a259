/**
 * A browser File as the SDK sends it (docs/attachments.md): its bytes, its type as the
 * browser guessed it (the server checks it against the bytes), and for an image its size
 * and a small JPEG preview (at most 8 KiB: core MAX_PREVIEW_BYTES) for the timeline.
 */
import type { FileInput } from '@parley/client'
import { isMimeType, MAX_PREVIEW_BYTES } from '@parley/core'

/** The longest side of a preview, in pixels. */
const PREVIEW_SIDE = 96

export interface PreparedFile {
  file: FileInput
  image?: { width: number; height: number; preview?: string }
}

export async function prepareFile(file: File): Promise<PreparedFile> {
  const bytes = new Uint8Array(await file.arrayBuffer())
  const type = isMimeType(file.type.toLowerCase()) ? file.type.toLowerCase() : 'application/octet-stream'
  const prepared: PreparedFile = { file: { name: file.name, type, bytes } }
  if (type.startsWith('image/')) {
    const image = await imageOf(file).catch(() => undefined)
    if (image) prepared.image = image
  }
  return prepared
}

async function imageOf(file: File): Promise<{ width: number; height: number; preview?: string }> {
  const bitmap = await createImageBitmap(file)
  const { width, height } = bitmap
  const scale = Math.min(1, PREVIEW_SIDE / Math.max(width, height))
  const canvas = document.createElement('canvas')
  canvas.width = Math.max(1, Math.round(width * scale))
  canvas.height = Math.max(1, Math.round(height * scale))
  canvas.getContext('2d')?.drawImage(bitmap, 0, 0, canvas.width, canvas.height)
  bitmap.close()
  for (const quality of [0.7, 0.5, 0.3]) {
    const preview = canvas.toDataURL('image/jpeg', quality)
    if (preview.length <= MAX_PREVIEW_BYTES) return { width, height, preview }
  }
  return { width, height }
}
