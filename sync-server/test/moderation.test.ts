/**
 * Moderation end to end on a real server (docs/moderation.md): messages written over sync
 * are accepted and relayed, then judged off the delivery path; the server appends its own
 * `moderated` event, which every replica projects. HTTP publish is judged before anything
 * is written. Operators list and reverse decisions; clients cannot forge one.
 */
import type { DocHandle } from '@automerge/automerge-repo'
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket'
import { appendEvent, MODERATION_AUTHOR, project, readHead, readSegmentEvents, type HeadDoc, type ModeratedEvent, type SegmentDoc } from '@parley/core'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mintToken } from '../src/auth/tokens.ts'
import { stopStockAdapter, startTestServer, type TestServer } from '../src/testing.ts'
import { appendMessage, findWhenSynced, stockRepo, until, type StockClient } from './helpers.ts'
import { decisionAbout, decisionsAbout, events, startHook, type TestHook } from './moderation-helpers.ts'

const WORDS = '# test list\nbadword\n?watchword\nmulti word phrase\n'

async function wordFile(): Promise<{ path: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-words-'))
  const path = join(dir, 'words.txt')
  await writeFile(path, WORDS)
  return { path, remove: () => rm(dir, { recursive: true, force: true }) }
}

async function api(server: TestServer, user: string, method: string, path: string, body?: unknown, admin = false): Promise<{ status: number; json: any }> {
  const token = admin ? await mintToken(server.secret, user, { admin: true }) : await server.token(user)
  const response = await fetch(`${server.httpUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  return { status: response.status, json: await response.json() }
}

/** A conversation of alice and bob made over HTTP; its first segment as a stock client of `user` sees it. */
async function conversation(server: TestServer, clients: StockClient[], user = 'alice'): Promise<{ id: string; segment: DocHandle<SegmentDoc>; client: StockClient }> {
  const created = await api(server, 'alice', 'POST', '/v1/conversations', { members: ['bob'] })
  expect(created.status).toBe(201)
  const client = await stockRepo(server, user)
  clients.push(client)
  const head = await findWhenSynced<HeadDoc>(client, created.json.id)
  const segment = await findWhenSynced<SegmentDoc>(client, readHead(head.doc()).segments[0]!)
  return { id: created.json.id, segment, client }
}

const stillOpen = (client: StockClient) => Promise.race([client.closed, Promise.resolve('open')])

describe('moderation with a word list and a hook', () => {
  let server: TestServer
  let hook: TestHook
  let words: Awaited<ReturnType<typeof wordFile>>
  const clients: StockClient[] = []
  beforeAll(async () => {
    words = await wordFile()
    hook = await startHook()
    server = await startTestServer({ moderationWords: words.path, moderationHook: hook.url })
  })
  afterAll(async () => {
    for (const client of clients) client.close()
    await server?.close()
    await hook?.close()
    await words?.remove()
  })

  it('sync: a message holding a listed word is accepted and relayed, then hidden by the server’s rejected decision', async () => {
    const { id, segment, client } = await conversation(server, clients)
    const bob = await stockRepo(server, 'bob')
    clients.push(bob)
    const bobSegment = await findWhenSynced<SegmentDoc>(bob, segment.documentId)
    // Width, case and diacritics are normalised: ＢＡＤＷＯＲＤ and bádword are the entry `badword`.
    const blocked = appendMessage(segment, 'alice', 'you are a ＢÁＤＷＯＲＤ, really')
    const decision = await decisionAbout(server, 'alice', id, blocked.id)
    expect(decision).toMatchObject({ author: MODERATION_AUTHOR, decision: 'rejected', reason: expect.stringContaining('does not allow') })
    // The message itself stays in the log, the writer's connection open.
    expect((await events(server, 'alice', id)).map(event => event.id)).toContain(blocked.id)
    expect(await stillOpen(client)).toBe('open')
    // Bob's replica gets both, and projects the message as removed.
    await until(bobSegment, doc => readSegmentEvents(doc).events.some(event => event.id === decision.id))
    const item = project(readSegmentEvents(bobSegment.doc()).events).find(entry => entry.id === blocked.id)!
    expect(item).toMatchObject({ text: '', moderation: { decision: 'rejected', reason: decision.reason } })
    // The word list decided: the hook was not asked.
    expect(hook.asked).not.toContain(blocked.text)
  })

  it('sync: the hook’s flag and a `?` entry keep the message visible and list it for operators; a clean message gets no decision', async () => {
    const { id, segment } = await conversation(server, clients)
    const clean = appendMessage(segment, 'alice', 'a perfectly nice message')
    const flagged = appendMessage(segment, 'alice', 'buy my spammy pills')
    const watched = appendMessage(segment, 'alice', 'a WatchWord here')
    expect(await decisionAbout(server, 'alice', id, flagged.id)).toMatchObject({ decision: 'flagged', reason: 'the hook says flag' })
    expect(await decisionAbout(server, 'alice', id, watched.id)).toMatchObject({ decision: 'flagged', reason: expect.stringContaining('reviews') })
    // The hook answered for the clean message too (it is asked about every message the list lets through).
    expect(hook.asked).toContain(clean.text)
    expect(await decisionsAbout(server, 'alice', id, clean.id)).toEqual([])
    const timeline = project(await events(server, 'alice', id))
    expect(timeline.find(item => item.id === flagged.id)).toMatchObject({ text: flagged.text, moderation: { decision: 'flagged' } })
    expect(timeline.find(item => item.id === clean.id)!.moderation).toBeUndefined()

    const listed = await api(server, 'ops', 'GET', '/v1/admin/moderation?decision=flagged', undefined, true)
    expect(listed.status).toBe(200)
    const mine = listed.json.decisions.filter((record: { conversationId: string }) => record.conversationId === id)
    expect(mine.map((record: { target: string }) => record.target).sort()).toEqual([flagged.id, watched.id].sort())
    expect(mine.find((record: { target: string }) => record.target === watched.id)).toMatchObject({ source: 'words', entry: 'watchword', author: 'alice', text: watched.text })
  })

  it('sync: an edit holding a listed word is left out, the message shows its earlier text', async () => {
    const { id, segment } = await conversation(server, clients)
    const message = appendMessage(segment, 'alice', 'first version')
    const edit = { id: `edit-${message.id}`, type: 'edit' as const, target: message.id, text: 'now with badword', author: 'alice', device: 'alice-device', at: Date.now() + 1 }
    segment.change(doc => appendEvent(doc, edit))
    expect(await decisionAbout(server, 'alice', id, message.id)).toMatchObject({ decision: 'rejected', edit: edit.id })
    const item = project(await events(server, 'alice', id)).find(entry => entry.id === message.id)!
    expect(item).toMatchObject({ text: 'first version', moderation: { decision: 'rejected', edit: edit.id } })
    expect(item.edited).toBeUndefined()
  })

  it('HTTP: a listed word or the hook’s reject answers 422 PARLEY_ERR_CONTENT_REJECTED and stores nothing', async () => {
    const { id } = await conversation(server, clients)
    const before = await events(server, 'alice', id)
    for (const text of ['a multi  WORD phrase! indeed', 'something nasty']) {
      const refused = await api(server, 'alice', 'POST', `/v1/conversations/${id}/messages`, { text })
      expect(refused.status).toBe(422)
      expect(refused.json.error.code).toBe('PARLEY_ERR_CONTENT_REJECTED')
    }
    expect(await events(server, 'alice', id)).toEqual(before)
  })

  it('HTTP: a flagged message is published (201) and flagged, asking the hook once; a clean one gets no decision', async () => {
    const { id } = await conversation(server, clients)
    const clean = await api(server, 'alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'hello over http' })
    const text = `spammy over http ${Math.random()}`
    const flagged = await api(server, 'alice', 'POST', `/v1/conversations/${id}/messages`, { text })
    expect([clean.status, flagged.status]).toEqual([201, 201])
    expect(await decisionAbout(server, 'alice', id, flagged.json.eventId)).toMatchObject({ decision: 'flagged' })
    expect(hook.asked.filter(asked => asked === text)).toHaveLength(1)
    expect(await decisionsAbout(server, 'alice', id, clean.json.eventId)).toEqual([])
  })

  it('HTTP: a non-member is refused (403) before the hook hears anything', async () => {
    const { id } = await conversation(server, clients)
    const text = `spammy from an outsider ${Math.random()}`
    expect((await api(server, 'mallory', 'POST', `/v1/conversations/${id}/messages`, { text })).status).toBe(403)
    expect(hook.asked).not.toContain(text)
  })

  it('operators page through the decisions with `next`', async () => {
    const first = await api(server, 'ops', 'GET', '/v1/admin/moderation?limit=1', undefined, true)
    expect(first.json.decisions).toHaveLength(1)
    const second = await api(server, 'ops', 'GET', `/v1/admin/moderation?limit=1&after=${encodeURIComponent(first.json.next)}`, undefined, true)
    expect(second.json.decisions).toHaveLength(1)
    expect(second.json.decisions[0]).not.toEqual(first.json.decisions[0])
  })

  it('an operator reverses a rejection: the server appends `allowed` and the message shows again', async () => {
    const { id, segment } = await conversation(server, clients)
    const blocked = appendMessage(segment, 'alice', 'badword but fine in context')
    await decisionAbout(server, 'alice', id, blocked.id)
    expect(project(await events(server, 'alice', id)).find(item => item.id === blocked.id)!.text).toBe('')

    const notAdmin = await api(server, 'alice', 'POST', '/v1/admin/moderation/decisions', { conversationId: id, target: blocked.id, decision: 'allowed' })
    expect(notAdmin.status).toBe(403)
    const reversed = await api(server, 'ops', 'POST', '/v1/admin/moderation/decisions', { conversationId: id, target: blocked.id, decision: 'allowed' }, true)
    expect(reversed.status).toBe(201)
    expect(reversed.json).toMatchObject({ decision: 'allowed', source: 'admin', by: 'ops' })

    const item = project(await events(server, 'alice', id)).find(entry => entry.id === blocked.id)!
    expect(item.text).toBe(blocked.text)
    expect(item.moderation).toBeUndefined()
    const stillListed = await api(server, 'ops', 'GET', '/v1/admin/moderation?decision=rejected&limit=1000', undefined, true)
    expect(stillListed.json.decisions.map((record: { target: string }) => record.target)).not.toContain(blocked.id)
    // A message the server does not hold cannot be decided about.
    expect((await api(server, 'ops', 'POST', '/v1/admin/moderation/decisions', { conversationId: id, target: 'no-such-event', decision: 'rejected' }, true)).status).toBe(404)
  })

  it('a client cannot forge a moderated event: the connection is closed with 4403', async () => {
    const { segment: aliceSegment } = await conversation(server, clients)
    for (const author of ['bob', MODERATION_AUTHOR]) {
      const bob = await stockRepo(server, 'bob')
      clients.push(bob)
      const segment = await findWhenSynced<SegmentDoc>(bob, aliceSegment.documentId)
      const forged: ModeratedEvent = { id: `forged-${author}`, type: 'moderated', target: 'whatever', decision: 'allowed', reason: 'I say so', author, device: 'bob-device', at: Date.now() }
      segment.change(doc => appendEvent(doc, forged))
      const closed = await bob.closed
      expect(closed.code).toBe(4403)
      expect(closed.reason).toMatch(author === 'bob' ? /written by the server only/ : /as author/)
    }
  })
})

describe('moderation while the hook is down', () => {
  let words: Awaited<ReturnType<typeof wordFile>>
  const clients: StockClient[] = []
  beforeAll(async () => (words = await wordFile()))
  afterAll(async () => {
    for (const client of clients) client.close()
    await words?.remove()
  })

  it('a hook that refuses connections: the configured default (flag) applies to sync and HTTP, the word list still rejects', async () => {
    const gone = await startHook()
    await gone.close()
    const server = await startTestServer({ moderationWords: words.path, moderationHook: gone.url, moderationHookDefault: 'flag' })
    try {
      const { id, segment } = await conversation(server, clients)
      const overSync = appendMessage(segment, 'alice', 'hello while the hook is down')
      expect(await decisionAbout(server, 'alice', id, overSync.id)).toMatchObject({ decision: 'flagged', reason: expect.stringContaining('unavailable') })
      const overHttp = await api(server, 'alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'hello over http while down' })
      expect(overHttp.status).toBe(201)
      expect(await decisionAbout(server, 'alice', id, overHttp.json.eventId)).toMatchObject({ decision: 'flagged' })
      expect((await api(server, 'alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'badword' })).status).toBe(422)
    } finally {
      await server.close()
    }
  })

  it('a hook that never answers: after the timeout the default (reject) applies, so HTTP publish answers 422', async () => {
    const hanging = await startHook('hang')
    const server = await startTestServer({ moderationHook: hanging.url, moderationHookTimeoutMs: 100, moderationHookDefault: 'reject' })
    try {
      const { id } = await conversation(server, clients)
      const refused = await api(server, 'alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'anyone there?' })
      expect(refused.status).toBe(422)
      expect(hanging.asked).toContain('anyone there?')
    } finally {
      await server.close()
      await hanging.close()
    }
  })
})

describe('a message written offline', () => {
  it('is accepted when the device comes online (nothing left to retry), then rejected by the server', async () => {
    const words = await wordFile()
    const server = await startTestServer({ moderationWords: words.path })
    const bob = await stockRepo(server, 'bob')
    const created = await api(server, 'bob', 'POST', '/v1/conversations', { members: ['alice'] })
    const bobHead = await findWhenSynced<HeadDoc>(bob, created.json.id)
    const segmentId = readHead(bobHead.doc()).segments[0]!
    // Alice's device syncs the conversation once, then goes offline and writes.
    const alice = await stockRepo(server, 'alice')
    const segment = await findWhenSynced<SegmentDoc>(alice, segmentId)
    await until(segment, doc => Array.isArray(doc.events))
    alice.close()
    const written = appendMessage(segment, 'alice', 'typed on the train: badword')
    expect((await events(server, 'bob', created.json.id)).map(event => event.id)).not.toContain(written.id)
    // Back online: the change goes out and is accepted like any other.
    const adapter = new WebSocketClientAdapter(`${server.url}?token=${await server.token('alice')}`)
    alice.repo.networkSubsystem.addNetworkAdapter(adapter)
    try {
      const decision = await decisionAbout(server, 'bob', created.json.id, written.id)
      expect(decision.decision).toBe('rejected')
      expect((await events(server, 'bob', created.json.id)).map(event => event.id)).toContain(written.id)
      // The author's own replica receives the decision and sees why.
      await until(segment, doc => readSegmentEvents(doc).events.some(event => event.id === decision.id))
      const item = project(readSegmentEvents(segment.doc()).events).find(entry => entry.id === written.id)!
      expect(item).toMatchObject({ author: 'alice', text: '', moderation: { decision: 'rejected', reason: decision.reason } })
    } finally {
      stopStockAdapter(adapter)
      bob.close()
      await server.close()
      await words.remove()
    }
  })
})
