/**
 * Attachments on a real server (docs/attachments.md): a 50 MB upload interrupted and
 * resumed with tus-js-client over a real socket, downloads for members only (a removed
 * member loses access) with ranges and caching headers, the hash and the sniffed type
 * checked on completion, a blob sent twice stored once, the size limit and the quota.
 */
import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Upload } from 'tus-js-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from '../src/testing.ts'
import { call, createConversation, createUpload, download, patchUpload, PNG, sha256, shareAttachment, uploadWhole } from './blobs-helpers.ts'

const MB = 1024 * 1024

describe('blobs', () => {
  let server: TestServer
  let conversation: { id: string; segment: string }
  const big = randomBytes(50 * MB)
  const bigHash = sha256(big)

  beforeAll(async () => {
    server = await startTestServer({ maxBlobBytes: 60 * MB, blobQuotaBytes: 70 * MB })
    conversation = await createConversation(server, 'alice', ['bob', 'carol'])
  })
  // A bound, not a timing goal: closing flushes LevelDB on a machine other tests load too.
  afterAll(async () => server?.close(), 60_000)

  it('takes a 50 MB upload interrupted halfway and resumed from where it stopped', async () => {
    const token = await server.token('alice')
    const options = { endpoint: `${server.httpUrl}/v1/uploads`, headers: { authorization: `Bearer ${token}` }, metadata: { hash: bigHash, mime: 'application/octet-stream' }, retryDelays: [] }
    const started = performance.now()
    // First attempt: in 10 MB requests, aborted once two are on the server. (Aborted by
    // progress within one 50 MB request, a busy machine sometimes sent it all first.)
    const firstUrl = await new Promise<string>((resolve, reject) => {
      const upload: Upload = new Upload(big, {
        ...options,
        chunkSize: 10 * MB,
        onChunkComplete: (_chunk, accepted) => {
          if (accepted < 20 * MB) return
          void upload.abort().then(() => resolve(upload.url!), reject)
        },
        onError: reject,
        onSuccess: () => reject(new Error('the upload was meant to be interrupted')),
      })
      upload.start()
    })
    const head = await fetch(new URL(firstUrl), { method: 'HEAD', headers: { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0' } })
    const offset = Number(head.headers.get('upload-offset'))
    expect(offset).toBeGreaterThan(0)
    expect(offset).toBeLessThan(big.byteLength)
    // Second attempt: the same upload URL, so it resumes at the server's offset.
    let resumedFrom = -1
    await new Promise<void>((resolve, reject) => {
      const upload = new Upload(big, {
        ...options,
        uploadUrl: firstUrl,
        onProgress: sent => {
          if (resumedFrom < 0) resumedFrom = sent
        },
        onError: reject,
        onSuccess: () => resolve(),
      })
      upload.start()
    })
    const seconds = (performance.now() - started) / 1000
    console.info(`50 MB upload, interrupted at ${(offset / MB).toFixed(1)} MB and resumed: ${seconds.toFixed(2)} s, ${(50 / seconds).toFixed(1)} MB/s`)
    expect(resumedFrom).toBeGreaterThanOrEqual(offset)
    // Stored once, content-addressed under the data directory.
    expect(await readdir(join(server.dataDir, 'blobs', bigHash.slice(0, 2)))).toEqual([bigHash.slice(2)])

    await shareAttachment(server, 'alice', conversation, { hash: bigHash, size: big.byteLength, mime: 'application/octet-stream' })
    const response = await download(server, 'bob', bigHash, {}, 200)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-length')).toBe(String(big.byteLength))
    expect(sha256(new Uint8Array(await response.arrayBuffer()))).toBe(bigHash)
  })

  it('answers ranges, and caches by the hash', async () => {
    const range = await download(server, 'bob', bigHash, { range: 'bytes=1000-1999' }, 200)
    expect(range.status).toBe(206)
    expect(range.headers.get('content-range')).toBe(`bytes 1000-1999/${big.byteLength}`)
    expect(Buffer.from(await range.arrayBuffer()).equals(big.subarray(1000, 2000))).toBe(true)
    const suffix = await download(server, 'bob', bigHash, { range: 'bytes=-10' })
    expect(Buffer.from(await suffix.arrayBuffer()).equals(big.subarray(big.byteLength - 10))).toBe(true)
    const past = await download(server, 'bob', bigHash, { range: `bytes=${big.byteLength}-` })
    expect(past.status).toBe(416)
    expect(past.headers.get('content-range')).toBe(`bytes */${big.byteLength}`)

    expect(range.headers.get('etag')).toBe(`"${bigHash}"`)
    expect(range.headers.get('cache-control')).toContain('immutable')
    expect(range.headers.get('x-content-type-options')).toBe('nosniff')
    const cached = await download(server, 'bob', bigHash, { 'if-none-match': `"${bigHash}"` })
    expect(cached.status).toBe(304)
  })

  it('refuses a non-member, and a member once removed', async () => {
    const mallory = await download(server, 'mallory', bigHash)
    expect(mallory.status).toBe(403)
    expect(await mallory.json()).toMatchObject({ error: { code: 'PARLEY_ERR_FORBIDDEN' } })
    expect((await download(server, 'carol', bigHash, { range: 'bytes=0-0' })).status).toBe(206)
    expect((await call(server, 'alice', 'DELETE', `/v1/conversations/${conversation.id}/members/carol`)).status).toBe(200)
    expect((await download(server, 'carol', bigHash)).status).toBe(403)
    expect((await download(server, 'carol', `${bigHash}?conversation=${conversation.id}`)).status).toBe(403)
    expect((await download(server, 'bob', bigHash, { range: 'bytes=0-0' })).status).toBe(206)
    // Naming the conversation: that one is checked, alone.
    expect((await download(server, 'bob', `${bigHash}?conversation=${conversation.id}`, { range: 'bytes=0-0' })).status).toBe(206)
    expect((await download(server, 'bob', `${bigHash}?conversation=automerge:${conversation.id}`, { range: 'bytes=0-0' })).status).toBe(206)
    const other = await createConversation(server, 'bob', [])
    expect((await download(server, 'bob', `${bigHash}?conversation=${other.id}`)).status).toBe(403)
    expect((await download(server, 'mallory', `${bigHash}?conversation=${conversation.id}`)).status).toBe(403)
  })

  it('refuses bytes of one type claiming another, bytes that hash to something else, and keeps nothing of them', async () => {
    const png = await uploadWhole(server, 'bob', PNG, { hash: sha256(PNG), mime: 'image/jpeg' })
    expect(png.status).toBe(422)
    expect(await png.json()).toMatchObject({ error: { code: 'PARLEY_ERR_BLOB_MISMATCH', message: expect.stringContaining('image/png') } })
    const text = Buffer.from('just some text, not an image')
    const notImage = await uploadWhole(server, 'bob', text, { hash: sha256(text), mime: 'image/png' })
    expect(notImage.status).toBe(422)
    const wrongHash = await uploadWhole(server, 'bob', text, { hash: sha256(PNG), mime: 'text/plain' })
    expect(wrongHash.status).toBe(422)
    expect(await wrongHash.json()).toMatchObject({ error: { code: 'PARLEY_ERR_BLOB_MISMATCH', message: expect.stringContaining('hash') } })
    expect(await readdir(join(server.dataDir, 'blobs')).then(names => names.filter(name => name.length === 2))).toEqual([bigHash.slice(0, 2)])
    // Declared truly, the same bytes are taken.
    expect((await uploadWhole(server, 'bob', PNG, { hash: sha256(PNG), mime: 'image/png' })).status).toBe(204)
    expect((await uploadWhole(server, 'bob', text, { hash: sha256(text), mime: 'text/plain' })).status).toBe(204)
  })

  it('stores a blob sent twice once, and charges each uploader once', async () => {
    const bytes = randomBytes(3 * MB)
    const hash = sha256(bytes)
    for (const user of ['bob', 'bob', 'dave']) expect((await uploadWhole(server, user, bytes, { hash, mime: 'application/octet-stream' })).status).toBe(204)
    expect(await readdir(join(server.dataDir, 'blobs', hash.slice(0, 2)))).toContain(hash.slice(2))
    // The uploader may fetch what they uploaded before any event references it; nobody else may.
    expect((await download(server, 'dave', hash)).status).toBe(200)
    expect((await download(server, 'erin', hash)).status).toBe(403)
    // Bob's 3 MB count once: 66 MB more fit his 70 MB quota, 68 MB do not.
    expect((await createUpload(server, 'bob', 68 * MB, { hash, mime: 'application/octet-stream' })).status).toBe(413)
    const fits = await createUpload(server, 'bob', 60 * MB, { hash, mime: 'application/octet-stream' })
    expect(fits.status).toBe(201)
    expect((await fetch(new URL(fits.headers.get('location')!, server.httpUrl), { method: 'DELETE', headers: { authorization: `Bearer ${await server.token('bob')}`, 'tus-resumable': '1.0.0' } })).status).toBe(204)
  })

  it('refuses uploads past the size limit or the quota, without a token, with bad metadata, and to anyone but the uploader', async () => {
    const hash = sha256(Buffer.from('x'))
    const tooBig = await createUpload(server, 'erin', 61 * MB, { hash, mime: 'text/plain' })
    expect(tooBig.status).toBe(413)
    expect(await tooBig.json()).toMatchObject({ error: { code: 'PARLEY_ERR_TOO_LARGE' } })
    // Alice stored 50 MB: 25 more pass her 70 MB quota.
    const overQuota = await createUpload(server, 'alice', 25 * MB, { hash, mime: 'text/plain' })
    expect(overQuota.status).toBe(413)
    expect(await overQuota.json()).toMatchObject({ error: { code: 'PARLEY_ERR_QUOTA_EXCEEDED' } })

    const anonymous = await fetch(`${server.httpUrl}/v1/uploads`, { method: 'POST', headers: { 'tus-resumable': '1.0.0', 'upload-length': '1' } })
    expect(anonymous.status).toBe(401)
    expect((await createUpload(server, 'erin', 1, { hash: 'ABC', mime: 'text/plain' })).status).toBe(400)
    expect((await createUpload(server, 'erin', 1, { hash, mime: 'text/plain', user: 'alice' })).status).toBe(400)

    const created = await createUpload(server, 'erin', 1, { hash, mime: 'text/plain' })
    expect(created.status).toBe(201)
    const location = created.headers.get('location')!
    expect((await patchUpload(server, 'mallory', location, 0, Buffer.from('x'))).status).toBe(404)
    expect((await patchUpload(server, 'erin', location, 0, Buffer.from('x'))).status).toBe(204)
  })

  it('takes an empty file, finished at its creation', async () => {
    const hash = sha256(new Uint8Array(0))
    expect((await createUpload(server, 'erin', 0, { hash, mime: 'text/plain' })).status).toBe(201)
    // Stored just after the creation's answer (src/blobs/uploads.ts): asked again until then.
    const response = await download(server, 'erin', hash, {}, 200)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-length')).toBe('0')
    expect((await download(server, 'erin', hash, { range: 'bytes=0-' })).status).toBe(416)
  })

  it('answers 404 to a member for a blob referenced but not uploaded yet', async () => {
    const hash = sha256(Buffer.from('not uploaded'))
    await shareAttachment(server, 'bob', conversation, { hash, size: 12, mime: 'text/plain' })
    let response = await download(server, 'alice', hash, {}, 200)
    expect(response.status).toBe(404)
    expect((await uploadWhole(server, 'bob', Buffer.from('not uploaded'), { hash, mime: 'text/plain' })).status).toBe(204)
    response = await download(server, 'alice', hash)
    expect(await response.text()).toBe('not uploaded')
  })
})
