/** The pure parts of attachments: options, Range parsing, the MIME verdict, and the ledger's keys. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { BlobLedger, MAX_OPEN_UPLOADS } from '../src/blobs/ledger.ts'
import { blobLocation } from '../src/blobs/options.ts'
import { parseRange } from '../src/blobs/routes.ts'
import { mimeMismatch } from '../src/blobs/verify.ts'
import { resolveServerOptions } from '../src/config.ts'

describe('blob options', () => {
  it('reads s3://BUCKET[/PREFIX] and fills the defaults', () => {
    expect(blobLocation(undefined)).toEqual({ kind: 'file' })
    expect(blobLocation('s3://my-bucket')).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: '' })
    expect(blobLocation('s3://my-bucket/a/b/')).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: 'a/b/' })
    const resolved = resolveServerOptions({})
    expect(resolved.maxBlobBytes).toBe(100 * 1024 * 1024)
    expect(resolved.blobQuotaBytes).toBe(1024 * 1024 * 1024)
  })

  it('refuses what cannot work, with PARLEY_ERR_INVALID_OPTION', () => {
    const refused = (options: Parameters<typeof resolveServerOptions>[0]) => () => resolveServerOptions(options)
    for (const options of [
      { blobStore: 'https://bucket' },
      { blobStore: 's3://UPPER' },
      { s3Endpoint: 'http://127.0.0.1:9000' },
      { blobStore: 's3://bucket', s3Endpoint: 'ftp://x' },
      { blobStore: 's3://bucket', s3AccessKeyId: 'only-the-id' },
      { blobStore: 's3://bucket', maxBlobBytes: 6 * 1024 ** 3 },
      { maxBlobBytes: 0 },
      { blobQuotaBytes: 1.5 },
    ]) {
      expect(refused(options)).toThrow(expect.objectContaining({ code: 'PARLEY_ERR_INVALID_OPTION' }))
    }
  })
})

describe('parseRange', () => {
  it('reads one range, clamps its end, and says when it is past the end', () => {
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 })
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 })
    expect(parseRange('bytes=90-500', 100)).toEqual({ start: 90, end: 99 })
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 })
    expect(parseRange('bytes=-500', 100)).toEqual({ start: 0, end: 99 })
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable')
    expect(parseRange('bytes=-0', 100)).toBe('unsatisfiable')
    expect(parseRange('bytes=0-0', 0)).toBe('unsatisfiable')
  })

  it('sends everything for no range, a malformed one or several', () => {
    for (const header of [undefined, '', 'bytes=', 'bytes=-', 'items=0-1', 'bytes=5-1', 'bytes=0-1,5-6', 'bytes=a-b']) expect(parseRange(header, 100)).toBeUndefined()
  })
})

describe('mimeMismatch', () => {
  it('holds recognised bytes to their type, and unrecognised ones to types without a signature', () => {
    expect(mimeMismatch('image/png', 'image/png')).toBeUndefined()
    expect(mimeMismatch('image/jpeg', 'image/png')).toMatch(/image\/png, not image\/jpeg/)
    expect(mimeMismatch('application/octet-stream', 'image/png')).toMatch(/image\/png/)
    expect(mimeMismatch('text/plain', undefined)).toBeUndefined()
    expect(mimeMismatch('application/octet-stream', undefined)).toBeUndefined()
    expect(mimeMismatch('image/png', undefined)).toMatch(/not image\/png/)
    expect(mimeMismatch('application/pdf', undefined)).toMatch(/not application\/pdf/)
  })
})

describe('BlobLedger', () => {
  it('keeps each conversation and user to its own keys, counts each uploader once, and bounds open uploads', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-ledger-'))
    const ledger = await BlobLedger.open(dir)
    try {
      const hash = 'a'.repeat(64)
      await ledger.addReferences('conv', [hash])
      await ledger.addReferences('conv2', [hash, 'b'.repeat(64)])
      expect(await ledger.referencing(hash)).toEqual(['conv', 'conv2'])
      expect(await ledger.referencing('b'.repeat(64))).toEqual(['conv2'])
      expect(await ledger.referencing('a'.repeat(63))).toEqual([])

      expect(await ledger.reserve('__proto__', 'u1', 60, 100)).toEqual({ ok: true })
      expect(await ledger.reserve('__proto__', 'u2', 60, 100)).toMatchObject({ ok: false, reason: 'quota' })
      await ledger.settle('__proto__', 'u1', hash, 60)
      await ledger.settle('__proto__', 'u3', hash, 60)
      expect(await ledger.usage('__proto__')).toEqual({ stored: 60, reserved: 0, open: 0 })
      expect(await ledger.usage('__proto_')).toEqual({ stored: 0, reserved: 0, open: 0 })
      expect(await ledger.isUploader(hash, '__proto__')).toBe(true)
      expect(await ledger.isUploader(hash, 'constructor')).toBe(false)

      for (let i = 0; i < MAX_OPEN_UPLOADS; i++) expect(await ledger.reserve('bob', `b${i}`, 0, 100)).toEqual({ ok: true })
      expect(await ledger.reserve('bob', 'one-more', 0, 100)).toMatchObject({ ok: false, reason: 'uploads' })
      await ledger.release('bob', 'b0')
      expect(await ledger.reserve('bob', 'one-more', 0, 100)).toEqual({ ok: true })
    } finally {
      await ledger.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
