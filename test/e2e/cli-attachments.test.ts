/**
 * `parley send ID --file PATH` and `parley download ID MESSAGE` as processes against a
 * real server (docs/attachments.md): a file shared and saved by another member, a file
 * sent with the server unreachable and uploaded by the next `parley sync`.
 */
import { freePort } from '@parley/benchmarks/processes'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parley } from '../support/cli-process.ts'
import { ServerProcess } from '../support/server-process.ts'

/** A PNG signature and IHDR chunk: what file-type calls image/png (the server checks the type against the bytes). */
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex')

describe('files from the terminal', () => {
  let server: ServerProcess
  let home: string
  beforeAll(async () => {
    server = await ServerProcess.start()
    home = await mkdtemp(join(tmpdir(), 'parley-cli-files-'))
  })
  afterAll(async () => {
    await server?.stop()
    await rm(home, { recursive: true, force: true })
  })

  const as = async (user: string, url = server.url) => ['--server', url, '--token', await server.token(user), '--data', join(home, user)]

  it('shares a file that another member lists and saves', async () => {
    const photo = join(home, 'photo.png')
    await writeFile(photo, PNG)
    const alice = await as('alice')
    const id = (await parley([...alice, 'create', '--member', 'bob'])).stdout.trim()
    const sent = await parley([...alice, 'send', id, '--file', photo])
    expect(sent.stderr).toContain('delivered to the server')
    expect(sent.code, sent.stderr).toBe(0)
    const messageId = sent.stdout.trim()

    const bob = await as('bob')
    const history = await parley([...bob, 'history', id])
    expect(history.stdout).toContain(`alice: [file photo.png, ${PNG.byteLength} bytes, image/png]`)
    const saved = join(home, 'bob-photo.png')
    const downloaded = await parley([...bob, 'download', id, messageId, '--out', saved])
    expect(downloaded.code, downloaded.stderr).toBe(0)
    expect((await readFile(saved)).equals(PNG)).toBe(true)

    const mallory = await parley([...(await as('mallory')), 'download', id, messageId, '--out', join(home, 'stolen')])
    expect(mallory.code).not.toBe(0)
  })

  it('keeps a file sent while the server is unreachable, and uploads it on the next sync', async () => {
    const notes = join(home, 'notes.bin')
    const bytes = randomBytes(300_000)
    await writeFile(notes, bytes)
    const id = (await parley([...(await as('alice')), 'create', '--member', 'bob'])).stdout.trim()
    const offline = await parley([...(await as('alice', `ws://127.0.0.1:${await freePort()}`)), 'send', id, '--file', notes])
    expect(offline.code).toBe(0)
    expect(offline.stderr).toContain('saved on this device')
    const messageId = offline.stdout.trim()

    const synced = await parley([...(await as('alice')), 'sync', '--timeout', '30'])
    expect(synced.code, synced.stderr).toBe(0)
    const saved = join(home, 'bob-notes.bin')
    const downloaded = await parley([...(await as('bob')), 'download', id, messageId, '--out', saved])
    expect(downloaded.code, downloaded.stderr).toBe(0)
    expect((await readFile(saved)).equals(bytes)).toBe(true)
  })
})
