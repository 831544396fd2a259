/**
 * The per-user rate limit weighs work, not messages (docs/security.md, "Rate limits weigh
 * work"). A sync message whose changes decode to thousands of rows costs the server tens
 * of milliseconds to check and apply; counted as one message each, 2,000 of them fit in
 * one burst. Here mallory re-sends the changes of a 1,000-member head (about 4,000 rows:
 * just inside the decode budget, and nothing the guard refuses, since the server has
 * them already) as fast as the server answers, while alice and bob chat.
 *
 * The server runs at one token per second, so what a user may do is its 2,000-token burst
 * whatever the machine's speed: no timing goes into the counts below.
 */
import { next as Automerge } from '@automerge/automerge'
import type { DocumentId } from '@automerge/automerge-repo'
import { RawClient, startTestServer, type TestServer } from '@parley/sync-server/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LegitChat } from './legit-chat.ts'

const BURST = 2_000
/** Flood frames sent at most: without weighting, 2,000 message tokens would let ~1,000 through (frame + heads request each). */
const FLOOD_CAP = 300

describe('a flood of frames near the decode budget (per-user rate limit weighted by work)', () => {
  let server: TestServer
  const endpoint = { url: '', token: (user: string) => server.token(user) }

  beforeAll(async () => {
    server = await startTestServer({ messagesPerSecond: 1, messageBurst: BURST })
    endpoint.url = server.url
  })
  afterAll(async () => {
    await server?.close()
  })

  /** The changes of a head of 1,000 members that mallory created over HTTP: what the flood re-sends. */
  async function bigHead(): Promise<{ id: string; data: Uint8Array }> {
    const members = Array.from({ length: 999 }, (_, i) => `member${String(i).padStart(4, '0')}`)
    const response = await fetch(`${server.httpUrl}/v1/conversations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await server.token('mallory')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'crowd', members }),
    })
    expect(response.status).toBe(201)
    const { id } = (await response.json()) as { id: string }
    const handle = await server.server.repo.find(id as DocumentId)
    const changes = Automerge.getAllChanges(handle.doc()!)
    return { id, data: Automerge.encodeSyncMessage({ heads: [], need: [], have: [], changes }) }
  }

  it('closes the flooder with 4429 after a bounded number of frames, refuses their reconnection, and keeps an ordinary chat going', async () => {
    const chat = await LegitChat.start(endpoint)
    const head = await bigHead()
    const flooder = await RawClient.open(endpoint, 'mallory')
    const serverId = String((await flooder.join('flood')).senderId)
    let answered = 0
    let closed: { code: number; reason: string } | undefined
    for (let i = 0; i < FLOOD_CAP && !closed; i++) {
      flooder.send({ type: 'sync', senderId: 'flood', targetId: serverId, documentId: head.id, data: head.data })
      // Answered once the frame before it is checked: one frame at a time, as fast as the server goes.
      flooder.send({ type: 'parley/heads-request', senderId: 'flood', targetId: serverId, requestId: i, documentIds: [head.id] })
      const reply = flooder.next(message => message.type === 'parley/heads' && message.requestId === i).then(() => undefined)
      closed = (await Promise.race([reply, flooder.closed])) ?? undefined
      if (!closed) answered++
      chat.say(i % 2 === 0 ? 'alice' : 'bob')
    }
    flooder.terminate()
    expect(closed, `the flooder was not closed after ${answered} frames of about 4,000 rows`).toBeDefined()
    expect(closed!.code).toBe(4429)
    // Each frame costs ~35 tokens (rate-limit.ts workTokens) and its heads request one: 2,000
    // pay for ~55, where message tokens alone would let ~1,000 through.
    expect(answered).toBeLessThanOrEqual(100)
    expect(answered).toBeGreaterThanOrEqual(5)
    // Reconnecting is refused until the bucket is half full again.
    await expect(RawClient.open(endpoint, 'mallory')).rejects.toThrow(/HTTP 429/)

    await chat.roundTrip()
    await chat.expectAllDelivered()
    expect(chat.statusChanges).toEqual([])
    await chat.close()
  })

  it('does not limit an ordinary conversation of a few hundred small messages', async () => {
    const chat = await LegitChat.start(endpoint)
    for (let i = 0; i < 300; i++) chat.say(i % 2 === 0 ? 'alice' : 'bob')
    await chat.expectAllDelivered()
    await chat.roundTrip()
    // Neither client lost its connection (a 4429 would show as a status change).
    expect(chat.statusChanges).toEqual([])
    await chat.close()
  })
})
