/**
 * A finished upload checked before it becomes a blob: its SHA-256 against the declared
 * hash, and its type sniffed from the bytes (the `file-type` package) against the
 * declared MIME type. The client's word is never taken for either.
 */
import { fileTypeFromFile, supportedMimeTypes } from 'file-type'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'

export interface Inspection {
  hash: string
  /** What the bytes are, when file-type recognises them. */
  sniffed?: string
}

export async function inspectFile(path: string): Promise<Inspection> {
  const digest = createHash('sha256')
  await pipeline(createReadStream(path), digest)
  const type = await fileTypeFromFile(path)
  return { hash: digest.digest('hex'), ...(type && { sniffed: type.mime }) }
}

/**
 * Why the bytes do not match the declared type; undefined when they do. Bytes of a
 * recognised type must be declared as that type; bytes recognised as nothing may be
 * declared as anything file-type would have recognised by its signature (text, CSV,
 * JSON, SVG …), never as a type it would have.
 */
export function mimeMismatch(declared: string, sniffed: string | undefined): string | undefined {
  if (sniffed !== undefined) return sniffed === declared ? undefined : `the bytes are ${sniffed}, not ${declared}`
  return supportedMimeTypes.has(declared) ? `the bytes are not ${declared}` : undefined
}
