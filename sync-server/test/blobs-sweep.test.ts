/** Uploads left unfinished past their expiry are dropped and their quota reservation given back (src/blobs/uploads.ts sweep). */
import Fastify from 'fastify'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Identity } from '../src/auth/tokens.ts'
import { FileBlobStore } from '../src/blobs/file-store.ts'
import { BlobLedger } from '../src/blobs/ledger.ts'
import { UPLOAD_EXPIRY_MS, Uploads } from '../src/blobs/uploads.ts'

describe('expired uploads', () => {
  afterEach(() => vi.useRealTimers())

  it('are dropped with their staged bytes, and the reservation is given back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-sweep-'))
    const ledger = await BlobLedger.open(join(dir, 'ledger'))
    const app = Fastify()
    // The caller named by a header: what the bearer-token preHandler does, without tokens.
    const authenticate = async (request: { headers: Record<string, unknown>; identity?: Identity }): Promise<void> => {
      request.identity = { user: String(request.headers['x-user']) }
    }
    const uploads = new Uploads({ stagingDirectory: join(dir, 'uploads'), store: new FileBlobStore(dir), ledger, maxBlobBytes: 1000, quotaBytes: 1000, authenticate: authenticate as never, log: app.log })
    uploads.register(app)
    const base = await app.listen({ port: 0, host: '127.0.0.1' })
    try {
      const created = await fetch(`${base}/v1/uploads`, {
        method: 'POST',
        headers: { 'x-user': 'erin', 'tus-resumable': '1.0.0', 'upload-length': '500', 'upload-metadata': `hash ${Buffer.from('a'.repeat(64)).toString('base64')},mime ${Buffer.from('text/plain').toString('base64')}` },
      })
      expect(created.status).toBe(201)
      expect(await ledger.usage('erin')).toMatchObject({ reserved: 500, open: 1 })
      expect(await uploads.sweep()).toBe(0)

      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(Date.now() + UPLOAD_EXPIRY_MS + 60_000)
      expect(await uploads.sweep()).toBe(1)
      expect(await ledger.usage('erin')).toEqual({ stored: 0, reserved: 0, open: 0 })
      expect(await readdir(join(dir, 'uploads'))).toEqual([])
      const head = await fetch(new URL(created.headers.get('location')!, base), { method: 'HEAD', headers: { 'x-user': 'erin', 'tus-resumable': '1.0.0' } })
      expect(head.status).toBe(404)
    } finally {
      await app.close()
      await ledger.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
