/**
 * HTTP writes while the evictor unloads idle documents (docs/security.md): the service
 * holds a conversation's head and segment while it writes, so the evictor never unloads
 * a document under a write (publishes answered 500 "DocHandle is not ready" before).
 */
import { Repo } from '@automerge/automerge-repo'
import { MemoryStorageAdapter } from '@parley/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DocumentEvictor } from '../src/documents/eviction.ts'
import { startTestServer, type TestServer } from '../src/testing.ts'

describe('DocumentEvictor.hold', () => {
  function setup() {
    const repo = new Repo({ network: [], storage: new MemoryStorageAdapter() })
    const evictor = new DocumentEvictor(repo, { maxLoaded: 0, idleMs: 1, minIdleMs: 0, sweepMs: 0, requestTimeoutMs: 10_000 })
    const handle = repo.create<{ n?: number }>()
    handle.change(doc => (doc.n = 1))
    return { repo, evictor, handle }
  }

  it('a held document is not unloaded, and is once released', async () => {
    const { evictor, handle } = setup()
    const release = await evictor.hold(handle.documentId)
    const again = await evictor.hold(handle.documentId)
    expect(await evictor.evict(handle.documentId)).toBe(false)
    release()
    expect(await evictor.evict(handle.documentId)).toBe(false)
    again()
    expect(await evictor.evict(handle.documentId)).toBe(true)
  })

  it('a hold taken while an eviction saves waits for it, and the eviction gives up', async () => {
    const { repo, evictor, handle } = setup()
    const eviction = evictor.evict(handle.documentId)
    const release = await evictor.hold(handle.documentId)
    expect(await eviction).toBe(false)
    expect(repo.handles[handle.documentId]?.isReady()).toBe(true)
    release()
  })
})

describe('HTTP writes and document eviction', () => {
  let server: TestServer
  beforeAll(async () => (server = await startTestServer({ documentIdleMs: 50 })))
  afterAll(() => server.close())

  it('no publish fails while the evictor sweeps every few milliseconds', async () => {
    const authorization = `Bearer ${await server.token('alice')}`
    const created = await server.server.app.inject({ method: 'POST', url: '/v1/conversations', headers: { authorization }, payload: { members: ['bob'] } })
    expect(`${created.statusCode} ${created.body}`).toMatch(/^201 /)
    const id = created.json().id as string
    const failures: string[] = []
    for (let round = 0; round < 60; round++) {
      const answers = await Promise.all(
        Array.from({ length: 5 }, (_, i) => server.server.app.inject({ method: 'POST', url: `/v1/conversations/${id}/messages`, headers: { authorization }, payload: { text: `m${round}-${i}` } })),
      )
      for (const answer of answers) if (answer.statusCode !== 201) failures.push(`${answer.statusCode} ${answer.body}`)
      // Idle long enough for the next sweep to take the head and segment.
      await new Promise(resolve => setTimeout(resolve, 30 + (round % 7) * 5))
    }
    expect(failures).toEqual([])
  })
})
