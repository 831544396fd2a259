/**
 * Blobs in an S3-compatible store: a real parley-server process started with
 * `--blob-store s3://BUCKET/PREFIX --s3-endpoint … --s3-region … --s3-access-key-id …
 * --s3-secret-access-key …` against a local S3 server (s3rver) the test starts and stops.
 * (The server runs as its own process: vitest's workers resolve packages with the
 * `module` condition, under which the AWS SDK does not load.)
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import S3rver from 's3rver'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mintToken } from '../src/auth/tokens.ts'
import { reapOnExit } from '../src/testing.ts'
import { call, createConversation, download, PNG, sha256, shareAttachment, uploadWhole, type BlobTestServer } from './blobs-helpers.ts'

const BIN = fileURLToPath(new URL('../bin/parley-server.js', import.meta.url))
const SECRET = 'blob-s3-test-secret-long-enough'
const BUCKET = 'parley-blobs'

/** Every file under `dir`, as paths relative to it. */
async function files(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter(entry => entry.isFile()).map(entry => join(entry.parentPath, entry.name).slice(dir.length + 1))
}

describe('blobs in S3', () => {
  let s3: S3rver
  let s3Running = false
  let child: ChildProcess | undefined
  let server: BlobTestServer
  let s3Dir: string
  let dataDir: string

  beforeAll(async () => {
    s3Dir = await mkdtemp(join(tmpdir(), 'parley-s3-'))
    dataDir = await mkdtemp(join(tmpdir(), 'parley-s3-data-'))
    s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: s3Dir, configureBuckets: [{ name: BUCKET, configs: [] }] })
    const { port: s3Port } = await s3.run()
    s3Running = true
    const args = ['--port', '0', '--data', dataDir, '--jwt-secret', SECRET, '--log-level', 'warn', '--blob-store', `s3://${BUCKET}/parley`, '--s3-endpoint', `http://127.0.0.1:${s3Port}`, '--s3-region', 'us-east-1', '--s3-access-key-id', 'S3RVER', '--s3-secret-access-key', 'S3RVER']
    const started = reapOnExit(spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }))
    child = started
    const port = await new Promise<string>((resolve, reject) => {
      let output = ''
      const onData = (chunk: Buffer): void => {
        output += chunk.toString()
        const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output)
        if (match) resolve(match[1]!)
      }
      started.stdout!.on('data', onData)
      started.stderr!.on('data', onData)
      started.once('exit', code => reject(new Error(`parley-server exited with ${code}:\n${output}`)))
    })
    server = { url: `ws://127.0.0.1:${port}/sync`, httpUrl: `http://127.0.0.1:${port}`, token: user => mintToken(SECRET, user) }
    // A process compiling its TypeScript on a busy machine: no timing goal, only a bound.
  }, 120_000)

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise(resolve => child!.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
    if (s3Running) await s3.close()
    await rm(s3Dir, { recursive: true, force: true })
    await rm(dataDir, { recursive: true, force: true })
  })

  it('keeps verified blobs in the bucket, once, and serves them to members only', async () => {
    const conversation = await createConversation(server, 'alice', ['bob'])
    const bytes = randomBytes(5 * 1024 * 1024)
    const hash = sha256(bytes)
    expect((await uploadWhole(server, 'alice', bytes, { hash, mime: 'application/octet-stream' })).status).toBe(204)
    expect((await uploadWhole(server, 'alice', bytes, { hash, mime: 'application/octet-stream' })).status).toBe(204)
    const stored = await files(join(s3Dir, BUCKET))
    expect(stored.filter(path => path.startsWith(`parley/blobs/${hash.slice(0, 2)}/${hash.slice(2)}`)).length).toBeGreaterThan(0)
    // Nothing of it stays in the data directory: the staged upload moved to the bucket.
    expect((await files(join(dataDir, 'blobs'))).filter(path => path.includes(hash.slice(2)))).toEqual([])

    await shareAttachment(server, 'alice', conversation, { hash, size: bytes.byteLength, mime: 'application/octet-stream' })
    const whole = await download(server, 'bob', hash, {}, 200)
    expect(whole.status).toBe(200)
    expect(sha256(new Uint8Array(await whole.arrayBuffer()))).toBe(hash)
    const range = await download(server, 'bob', hash, { range: 'bytes=100-199' })
    expect(range.status).toBe(206)
    expect(Buffer.from(await range.arrayBuffer()).equals(bytes.subarray(100, 200))).toBe(true)
    expect((await download(server, 'mallory', hash)).status).toBe(403)
    expect((await call(server, 'alice', 'DELETE', `/v1/conversations/${conversation.id}/members/bob`)).status).toBe(200)
    expect((await download(server, 'bob', hash)).status).toBe(403)
  })

  it('refuses a mismatch before anything reaches the bucket', async () => {
    const response = await uploadWhole(server, 'alice', PNG, { hash: sha256(PNG), mime: 'application/pdf' })
    expect(response.status).toBe(422)
    expect((await files(join(s3Dir, BUCKET))).filter(path => path.includes(sha256(PNG).slice(2)))).toEqual([])
  })

  it('answers 503 and keeps nothing staged when the store does not take a verified blob', async () => {
    await s3.close()
    s3Running = false
    const bytes = randomBytes(1000)
    const response = await uploadWhole(server, 'alice', bytes, { hash: sha256(bytes), mime: 'application/octet-stream' })
    expect(response.status).toBe(503)
    expect(await response.json()).toMatchObject({ error: { code: 'PARLEY_ERR_INTERNAL' } })
    // Dropped, so a retry starts a new upload instead of finding a complete one that was never stored.
    expect(await files(join(dataDir, 'blobs', 'uploads'))).toEqual([])
  })
})
