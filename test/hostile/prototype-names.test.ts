/**
 * Issue 13, item 3: a token whose `sub` was `constructor`, `__proto__`, `toString`… read
 * and wrote every conversation whose ID it knew (`user in members` is true for them).
 * Against a real server process, property-based: each name Object.prototype gives every
 * object is tried wherever a name is taken — as a token's subject over HTTP (reads,
 * events, posts, member changes), SSE and sync (reads, appended events, a new segment),
 * as a member name a head change adds, and as a document ID — and none of them may read
 * or write a conversation it is not a member of.
 *
 * Whether such a token is refused at once (401, if token verification calls core
 * isValidUserId) or let in and refused per conversation (403/404/4403) is left open here:
 * either keeps the conversation closed.
 */
import { next as Automerge, type Doc } from '@automerge/automerge'
import { parseAutomergeUrl, Repo, stringifyAutomergeUrl, type BinaryDocumentId, type DocumentId } from '@automerge/automerge-repo'
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import { addMember, appendEvent, INHERITED_NAMES, initSegment, randomId, scalar, type HeadDoc, type SegmentDoc } from '@parley/core'
import { RawClient, stopStockAdapter, withTimeout } from '@parley/sync-server/testing'
import fc from 'fast-check'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ServerProcess } from '../support/server-process.ts'

const SEED = Number(process.env.HOSTILE_SEED ?? 20_251_127)
/** The names every object inherits from Object.prototype (core INHERITED_NAMES). */
const hostileName = fc.constantFrom(...INHERITED_NAMES)
const EMPTY_SYNC = Automerge.generateSyncMessage(Automerge.init(), Automerge.initSyncState())[1]!
const randomDocumentId = (): string => parseAutomergeUrl(stringifyAutomergeUrl(randomBytes(16) as unknown as BinaryDocumentId)).documentId

describe('prototype-named identifiers (issue 13, item 3)', () => {
  let server: ServerProcess
  let http: string
  let conversationId: string
  let segmentId: string
  let head: Doc<HeadDoc>
  let segment: Doc<SegmentDoc>
  const repos: Repo[] = []
  const endpoint = { url: '', token: (user: string) => server.token(user) }

  const call = async (user: string, method: string, path: string, body?: unknown): Promise<Response> =>
    fetch(`${http}${path}`, {
      method,
      headers: { authorization: `Bearer ${await server.token(user)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    })

  /** What alice (the owner) sees: every event's author and the member list. */
  async function ownerView(): Promise<{ authors: string[]; members: string[] }> {
    const events = (await (await call('alice', 'GET', `/v1/conversations/${conversationId}/events?limit=1000`)).json()) as { events: { author: string }[] }
    const view = (await (await call('alice', 'GET', `/v1/conversations/${conversationId}`)).json()) as { members: { userId: string }[] }
    return { authors: events.events.map(event => event.author), members: view.members.map(member => member.userId) }
  }

  beforeAll(async () => {
    server = await ServerProcess.start()
    http = `http://127.0.0.1:${server.port}`
    endpoint.url = `${server.url}/sync`
    const created = await call('alice', 'POST', '/v1/conversations', { title: 'members only', members: ['bob'] })
    expect(created.status).toBe(201)
    const view = (await created.json()) as { id: string; segments: string[] }
    conversationId = view.id
    segmentId = view.segments[0]!
    expect((await call('alice', 'POST', `/v1/conversations/${conversationId}/messages`, { text: 'hello bob' })).status).toBe(201)
    // Bob, a member, fetches both documents with a stock client: the attacks build on his copies.
    const adapter = new WebSocketClientAdapter(`${server.url}/sync?token=${await server.token('bob')}`)
    const repo = new Repo({ network: [adapter] })
    repos.push(repo)
    await adapter.whenReady()
    head = Automerge.clone((await repo.find<HeadDoc>(conversationId as DocumentId)).doc())
    segment = Automerge.clone((await repo.find<SegmentDoc>(segmentId as DocumentId)).doc())
  })
  afterAll(async () => {
    for (const repo of repos) for (const adapter of repo.networkSubsystem.adapters) stopStockAdapter(adapter)
    await server?.stop()
  })

  /**
   * Opens a sync connection as `user` and sends `message` for `documentId`. Resolves with
   * what came back: the close code, or the messages the server answered with.
   */
  async function overSync(user: string, documentId: string, data: Uint8Array, type: 'sync' | 'request' = 'sync'): Promise<{ refusedUpgrade?: true; closed?: number; replies: Record<string, unknown>[] }> {
    let client: RawClient
    try {
      client = await RawClient.open(endpoint, user)
    } catch (error) {
      expect((error as Error).message).toMatch(/HTTP 401/)
      return { refusedUpgrade: true, replies: [] }
    }
    try {
      const peer = `hostile-${randomId()}`
      const serverId = String((await client.join(peer)).senderId)
      client.send({ type, senderId: peer, targetId: serverId, documentId, data })
      const answered = client.next(message => message.documentId === documentId && message.type !== 'ephemeral')
      const closed = client.closed.then(({ code }) => code)
      const outcome = await withTimeout(Promise.race([answered.then(() => undefined), closed]), 10_000, `the server's answer to ${user}`)
      // A close may follow an answer: give it a moment to arrive with any further replies.
      const late = await client.closedWithin(200)
      return { closed: outcome ?? late?.code, replies: client.received.filter(message => message.documentId === documentId) }
    } finally {
      client.terminate()
    }
  }

  /** A change to `doc` made by a fresh actor (bound to whoever sends it first). */
  function changeOf<T>(doc: Doc<T>, change: (d: T) => void): Uint8Array {
    const next = Automerge.change(Automerge.clone(doc, { actor: randomBytes(16).toString('hex') }), change)
    return Automerge.getLastLocalChange(next)!
  }
  const syncOf = (...changes: Uint8Array[]): Uint8Array => Automerge.encodeSyncMessage({ heads: [], need: [], have: [], changes })
  const event = (author: string, text: string) => ({ id: randomId(), type: 'message' as const, author, device: 'hostile', at: Date.now(), text })

  type Surface = (name: string) => Promise<void>
  const SURFACES: Record<string, Surface> = {
    async 'HTTP read'(name) {
      for (const path of ['', '/events', '/messages']) {
        const response = await call(name, 'GET', `/v1/conversations/${conversationId}${path}`)
        expect([401, 403, 404], `GET ${path || '/'} as ${name}`).toContain(response.status)
      }
    },
    async 'HTTP post'(name) {
      const response = await call(name, 'POST', `/v1/conversations/${conversationId}/messages`, { text: `posted by ${name}` })
      expect([401, 403, 404]).toContain(response.status)
      expect((await ownerView()).authors).not.toContain(name)
    },
    async 'HTTP member change'(name) {
      const added = await call(name, 'POST', `/v1/conversations/${conversationId}/members`, { userId: name, role: 'owner' })
      expect([401, 403, 404]).toContain(added.status)
      const removed = await call(name, 'DELETE', `/v1/conversations/${conversationId}/members/bob`)
      expect([401, 403, 404]).toContain(removed.status)
      expect((await ownerView()).members.sort()).toEqual(['alice', 'bob'])
    },
    async SSE(name) {
      const response = await call(name, 'GET', `/v1/conversations/${conversationId}/stream`)
      expect([401, 403, 404]).toContain(response.status)
      await response.body?.cancel()
    },
    async 'sync read'(name) {
      const { replies } = await overSync(name, conversationId, EMPTY_SYNC, 'request')
      // Never a sync message carrying the head's changes.
      for (const reply of replies) if (reply.type === 'sync') expect(Automerge.decodeSyncMessage(reply.data as Uint8Array).changes).toEqual([])
    },
    async 'sync append'(name) {
      const result = await overSync(name, segmentId, syncOf(changeOf(segment, d => appendEvent(d, event(name, `appended by ${name}`)))))
      expect(result.refusedUpgrade ?? result.closed).toBeTruthy()
      if (!result.refusedUpgrade) expect(result.closed).toBe(4403)
      expect((await ownerView()).authors).not.toContain(name)
    },
    async 'sync new segment'(name) {
      const doc = Automerge.change(Automerge.init<SegmentDoc>({ actor: randomBytes(16).toString('hex') }), d => {
        initSegment(d, conversationId)
        appendEvent(d, event(name, `a segment by ${name}`))
      })
      const result = await overSync(name, randomDocumentId(), syncOf(...Automerge.getAllChanges(doc)))
      if (!result.refusedUpgrade) expect(result.closed).toBe(4403)
    },
    async 'sync title change'(name) {
      const result = await overSync(name, conversationId, syncOf(changeOf(head, d => void (d.title = scalar(`owned by ${name}`)))))
      if (!result.refusedUpgrade) expect(result.closed).toBe(4403)
    },
    async 'member name added over sync'(name) {
      // Alice, the owner, adds a member under this name: refused.
      const result = await overSync('alice', conversationId, syncOf(changeOf(head, d => addMember(d, name, 'member', 'alice', Date.now()))))
      expect(result.closed).toBe(4403)
      expect((await ownerView()).members.sort()).toEqual(['alice', 'bob'])
    },
    async 'document ID'(name) {
      const response = await call('alice', 'GET', `/v1/conversations/${encodeURIComponent(name)}`)
      expect([400, 403, 404]).toContain(response.status)
      const result = await overSync('alice', name, syncOf())
      expect(result.closed).toBe(4400)
    },
  }

  it('none of them reads or writes a conversation it is not a member of', async () => {
    const cases = fc.record({ name: hostileName, surface: fc.constantFrom(...Object.keys(SURFACES)) })
    await fc.assert(
      fc.asyncProperty(cases, async ({ name, surface }) => SURFACES[surface]!(name)),
      { seed: SEED, numRuns: 60, endOnFailure: true },
    )
    // Alice's own message is still there, and only hers and nothing else.
    expect((await ownerView()).authors).toEqual(['alice'])
  }, 240_000)

  it('tries every inherited name on every surface once', async () => {
    for (const name of INHERITED_NAMES) for (const [surface, attack] of Object.entries(SURFACES)) await attack(name).catch(error => {
      throw new Error(`${surface} as ${JSON.stringify(name)}: ${(error as Error).message}`, { cause: error })
    })
    expect((await ownerView()).authors).toEqual(['alice'])
  }, 240_000)
})
