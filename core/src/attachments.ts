/**
 * The `attachment` event's fields and their bounds (docs/attachments.md). The event
 * names a blob by its SHA-256; the bytes travel and are stored apart from the log, so
 * the log stays small and a blob sent twice is stored once.
 */
import { CoreErrorCodes, ParleyError } from './errors.ts'

/** A file name, in UTF-8 bytes: what common file systems allow for one path component. */
export const MAX_FILE_NAME_BYTES = 255
/** A MIME type (type/subtype, no parameters), in characters: RFC 6838 bounds each half at 127. */
export const MAX_MIME_LENGTH = 255
/** An image preview is a small data URL kept in the log, read by every member's device. */
export const MAX_PREVIEW_BYTES = 8 * 1024
/** Image sides beyond this are not images any device renders; it bounds the declared dimensions. */
export const MAX_IMAGE_SIDE = 65_535

/** A blob's name: the lowercase hex SHA-256 of its bytes. */
export const BLOB_HASH = /^[0-9a-f]{64}$/
const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/
/** The preview formats every browser decodes, base64 only. */
const PREVIEW = /^data:image\/(?:png|jpeg|webp|gif);base64,[A-Za-z0-9+/]+={0,2}$/

/** What a timeline item shows of an attachment: the event's fields but the common ones. */
export interface Attachment {
  /** SHA-256 of the bytes, lowercase hex: the blob's name on the server (`GET /v1/blobs/:hash`). */
  hash: string
  name: string
  /** In bytes. */
  size: number
  /** Lowercase `type/subtype`; the server checks it against the bytes on upload. */
  mime: string
  /** Images only: pixels. */
  width?: number
  height?: number
  /** Images only: a `data:image/…;base64,` URL of at most MAX_PREVIEW_BYTES. */
  preview?: string
}

export const ATTACHMENT_FIELDS = { required: ['hash', 'name', 'size', 'mime'], optional: ['width', 'height', 'preview'] }

const encoder = new TextEncoder()

function invalid(message: string): never {
  throw new ParleyError(CoreErrorCodes.INVALID_EVENT, message)
}

export function isBlobHash(value: unknown): value is string {
  return typeof value === 'string' && BLOB_HASH.test(value)
}

export function isMimeType(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_MIME_LENGTH && MIME.test(value)
}

/** Checks the attachment fields of an event whose shape (known fields only) was already checked. */
export function checkAttachment(event: Record<string, unknown>): void {
  if (!isBlobHash(event.hash)) invalid('hash must be a SHA-256 in lowercase hex (64 characters)')
  const name = event.name
  if (typeof name !== 'string' || name.length === 0) invalid('name must be a non-empty string')
  if (encoder.encode(name).byteLength > MAX_FILE_NAME_BYTES) invalid(`name is longer than ${MAX_FILE_NAME_BYTES} bytes`)
  if (/[/\\\u0000-\u001f]/.test(name)) invalid('name must not contain a path separator or a control character')
  if (!Number.isSafeInteger(event.size) || (event.size as number) < 0) invalid('size must be a non-negative integer')
  if (!isMimeType(event.mime)) invalid('mime must be a lowercase type/subtype')
  const image = (event.mime as string).startsWith('image/')
  for (const side of ['width', 'height'] as const) {
    if (event[side] === undefined) continue
    if (!image) invalid(`${side} is for images only`)
    const value = event[side]
    if (!Number.isSafeInteger(value) || (value as number) < 1 || (value as number) > MAX_IMAGE_SIDE) invalid(`${side} must be an integer from 1 to ${MAX_IMAGE_SIDE}`)
  }
  if ((event.width === undefined) !== (event.height === undefined)) invalid('width and height go together')
  if (event.preview !== undefined) {
    if (!image) invalid('preview is for images only')
    const preview = event.preview
    if (typeof preview !== 'string' || preview.length > MAX_PREVIEW_BYTES) invalid(`preview must be a data URL of at most ${MAX_PREVIEW_BYTES} bytes`)
    if (!PREVIEW.test(preview)) invalid('preview must be a base64 data URL of a PNG, JPEG, WebP or GIF image')
  }
}

/** The attachment a timeline item carries, copied field by field (no stray keys). */
export function attachmentOf(event: Attachment): Attachment {
  const attachment: Attachment = { hash: event.hash, name: event.name, size: event.size, mime: event.mime }
  if (event.width !== undefined && event.height !== undefined) {
    attachment.width = event.width
    attachment.height = event.height
  }
  if (event.preview !== undefined) attachment.preview = event.preview
  return attachment
}
