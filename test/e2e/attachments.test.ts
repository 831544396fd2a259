/**
 * Attachments through the SDK against a real parley-server process (docs/attachments.md):
 * a file sent while the server is down resolves at once, shows as uploading to its
 * author, and is uploaded when the server is back; a connection dropped mid-upload
 * resumes from the server's offset; receivers fetch on demand and keep the bytes; a
 * non-member is refused.
 */
import { sha256Hex, type ParleyClient, type UploadState } from '@parley/client'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClientPool, onStatus } from '../support/clients.ts'
import { ServerProcess } from '../support/server-process.ts'

/** Resolves with the upload's states, in order, once it is done (or rejects once it failed). */
function uploadStates(client: ParleyClient, hash: () => string | undefined): Promise<UploadState[]> {
  const states: UploadState[] = []
  return new Promise((resolve, reject) => {
    const listener = (state: UploadState): void => {
      if (state.hash !== hash()) return
      states.push(state)
      if (state.status === 'done') {
        client.attachments.uploads.off('upload', listener)
        resolve(states)
      }
      if (state.status === 'failed') reject(new Error(`upload failed: ${state.error}`))
    }
    client.attachments.uploads.on('upload', listener)
  })
}

describe('attachments through the SDK', () => {
  let server: ServerProcess
  const pool = new ClientPool()
  beforeAll(async () => (server = await ServerProcess.start()))
  afterAll(async () => {
    await pool.closeAll()
    await server?.stop()
  })

  it('sends a file offline, shows it as uploading, and uploads it on reconnect; a member fetches it, a non-member may not', async () => {
    const alice = await pool.connect(server, 'alice')
    const conversation = await alice.createConversation({ members: ['bob'] })
    await alice.sync()

    await server.kill('SIGKILL')
    await onStatus(alice, 'offline')
    const bytes = new TextEncoder().encode('minutes of the meeting\n'.repeat(1000))
    let hash: string | undefined
    const done = uploadStates(alice, () => hash)
    const id = await conversation.sendFile({ name: 'minutes.txt', type: 'text/plain', bytes })
    const item = conversation.timeline().find(entry => entry.id === id)!
    hash = item.attachment!.hash
    expect(item.attachment).toMatchObject({ name: 'minutes.txt', size: bytes.byteLength, mime: 'text/plain' })
    expect(conversation.uploadState(id)?.status).toBe('queued')

    await server.restart()
    await done
    expect(conversation.uploadState(id)?.status).toBe('done')
    await alice.sync({ timeout: 20_000 })

    const bob = await pool.connect(server, 'bob')
    const bobs = await bob.conversation(conversation.id)
    await bob.sync({ timeout: 20_000 })
    expect(bobs.uploadState(id)).toBeUndefined()
    expect(new TextDecoder().decode(await bobs.file(id))).toBe(new TextDecoder().decode(bytes))
    // Kept on bob's device once fetched.
    expect(bob.attachments.blobs.has(hash)).toBe(true)

    const mallory = await pool.connect(server, 'mallory')
    await expect(mallory.attachments.file(hash)).rejects.toMatchObject({ code: 'PARLEY_ERR_FORBIDDEN' })
  })

  it('resumes an upload cut by a dropped connection from where the server got to', async () => {
    const alice = await pool.connect(server, 'alice')
    const conversation = await alice.createConversation({ members: ['bob'] })
    await alice.sync()
    // tus-js-client reports progress at most every 100 ms: on a fast machine 24 MB went
    // whole between two reports, and the cut found nothing left to resume. 80 MB leaves room.
    const bytes = randomBytes(80 * 1024 * 1024)
    let hash: string | undefined
    let dropped = false
    const listener = (state: UploadState): void => {
      if (dropped || state.hash !== hash || state.status !== 'uploading' || state.sent < 2 * 1024 * 1024) return
      dropped = true
      alice.dropConnection()
    }
    alice.attachments.uploads.on('upload', listener)
    const done = uploadStates(alice, () => hash)
    hash = await sha256Hex(bytes)
    const id = await conversation.sendFile({ name: 'big.bin', bytes })
    const states = await done
    alice.attachments.uploads.off('upload', listener)

    // Cut (back to queued) after some bytes went out, then resumed at or past them.
    const cut = states.findIndex((state, i) => state.status === 'queued' && states.slice(0, i).some(earlier => earlier.sent > 0))
    expect(cut).toBeGreaterThan(0)
    const before = Math.max(...states.slice(0, cut).map(state => state.sent))
    const resumed = states.slice(cut).find(state => state.status === 'uploading' && state.sent > 0)!
    expect(before).toBeGreaterThan(0)
    // A fresh start would report its first 64 KiB chunk; a resumed one starts from the server's offset.
    expect(resumed.sent).toBeGreaterThan(1024 * 1024)
    expect(resumed.sent).toBeLessThan(bytes.byteLength)

    await alice.sync({ timeout: 20_000 })
    const bob = await pool.connect(server, 'bob')
    const bobs = await bob.conversation(conversation.id)
    await bob.sync({ timeout: 20_000 })
    expect(Buffer.from(await bobs.file(id)).equals(bytes)).toBe(true)
  })
})
