/** Shared by the blob tests: a conversation over HTTP, an attachment event over sync, a bare tus client over fetch. */
import { appendEvent, type AttachmentEvent, type SegmentDoc } from '@parley/core'
import { createHash, randomUUID } from 'node:crypto'
import { expect } from 'vitest'
import type { TestServer } from '../src/testing.ts'
import { findWhenSynced, stockRepo } from './helpers.ts'

/** What the helpers need of a server: an in-process TestServer or a parley-server process. */
export type BlobTestServer = Pick<TestServer, 'url' | 'httpUrl' | 'token'>

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

/** The 8-byte PNG signature and an IHDR chunk: enough for file-type to call it image/png. */
export const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex')

export async function call(server: BlobTestServer, user: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${server.httpUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${await server.token(user)}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
}

export async function createConversation(server: BlobTestServer, owner: string, members: string[]): Promise<{ id: string; segment: string }> {
  const response = await call(server, owner, 'POST', '/v1/conversations', { members })
  expect(response.status).toBe(201)
  const head = (await response.json()) as { id: string; segments: string[] }
  return { id: head.id, segment: head.segments[0]! }
}

/** Writes an attachment event into the conversation as `author`'s device would, over sync, and waits until the server numbered it. */
export async function shareAttachment(server: BlobTestServer, author: string, conversation: { id: string; segment: string }, file: { hash: string; size: number; mime: string; name?: string }): Promise<AttachmentEvent> {
  const client = await stockRepo(server, author)
  try {
    const segment = await findWhenSynced<SegmentDoc>(client, conversation.segment)
    const event: AttachmentEvent = { id: randomUUID(), type: 'attachment', author, device: `${author}-device`, at: Date.now(), name: file.name ?? 'file.bin', hash: file.hash, size: file.size, mime: file.mime }
    segment.change(doc => appendEvent(doc, event))
    for (let attempt = 0; ; attempt++) {
      const page = (await (await call(server, author, 'GET', `/v1/conversations/${conversation.id}/events?after=0&limit=1000`)).json()) as { events: { id: string }[] }
      if (page.events.some(stored => stored.id === event.id)) return event
      if (attempt > 500) throw new Error('the attachment event never reached the server')
      await new Promise(resolve => setTimeout(resolve, 10))
    }
  } finally {
    client.close()
  }
}

/** GET /v1/blobs/:hash with its body read, retried while 403 up to `tries` times: the reference is recorded just after the event is numbered. */
export async function download(server: BlobTestServer, user: string, hash: string, headers: Record<string, string> = {}, tries = 1): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    const fetched = await fetch(`${server.httpUrl}/v1/blobs/${hash}`, { headers: { authorization: `Bearer ${await server.token(user)}`, ...headers } })
    // Read at once, whatever the test looks at: a body left unread holds the request open on the server, and its close waits for it.
    const body = await fetched.arrayBuffer()
    const response = new Response([204, 304].includes(fetched.status) ? null : body, { status: fetched.status, headers: fetched.headers })
    if (response.status !== 403 || attempt >= tries) return response
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** A tus creation (POST) with the metadata given; the response. */
export async function createUpload(server: BlobTestServer, user: string, length: number, metadata: Record<string, string>): Promise<Response> {
  const encoded = Object.entries(metadata).map(([key, value]) => `${key} ${Buffer.from(value).toString('base64')}`).join(',')
  return fetch(`${server.httpUrl}/v1/uploads`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await server.token(user)}`, 'tus-resumable': '1.0.0', 'upload-length': String(length), 'upload-metadata': encoded },
  })
}

/** A tus PATCH of `bytes` at `offset` to the upload at `location` (relative). */
export async function patchUpload(server: BlobTestServer, user: string, location: string, offset: number, bytes: Uint8Array): Promise<Response> {
  return fetch(new URL(location, `${server.httpUrl}/v1/uploads`), {
    method: 'PATCH',
    headers: { authorization: `Bearer ${await server.token(user)}`, 'tus-resumable': '1.0.0', 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
    body: new Uint8Array(bytes),
  })
}

/** Creates and sends a whole upload in one PATCH; the PATCH's response (or the POST's, when it refused). */
export async function uploadWhole(server: BlobTestServer, user: string, bytes: Uint8Array, metadata: Record<string, string>): Promise<Response> {
  const created = await createUpload(server, user, bytes.byteLength, metadata)
  if (created.status !== 201) return created
  return patchUpload(server, user, created.headers.get('location')!, 0, bytes)
}
