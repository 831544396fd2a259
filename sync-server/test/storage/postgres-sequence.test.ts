/**
 * One sequence per conversation across the cluster: nodes sharing a PostgreSQL database
 * number a conversation's events 1, 2, 3 … with no gap and no number twice, however
 * their appends interleave, and an event both nodes record keeps one number.
 */
import type { ParleyEvent } from '@parley/core'
import { afterEach, describe, expect, it } from 'vitest'
import { EventIndex } from '../../src/events/event-index.ts'
import { openDatabases, type Databases } from '../../src/storage/databases.ts'
import { createTestDatabase, startTestServer, type TestServer } from '../../src/testing.ts'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const message = (id: string): ParleyEvent => ({ type: 'message', id, author: 'alice', device: 'd1', at: 1, text: id })

async function database(): Promise<string> {
  const db = await createTestDatabase()
  cleanups.push(() => db.drop())
  return db.url
}

/** A node's storage: its own pool on the shared database, as a server opens it. */
async function node(url: string): Promise<Databases> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-pg-node-'))
  const databases = await openDatabases(dir, { retryMs: 1000, maxHeldBytes: 1 << 20, minFreeBytes: 0, postgres: url })
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  cleanups.push(() => databases.close())
  return databases
}

/** Splits `events` into batches of 1 to 4, as changes arrive. */
function batches(events: ParleyEvent[]): ParleyEvent[][] {
  const out: ParleyEvent[][] = []
  for (let i = 0; i < events.length; ) {
    const size = 1 + (i % 4)
    out.push(events.slice(i, i + size))
    i += size
  }
  return out
}

describe('one sequence per conversation across nodes (PostgreSQL)', () => {
  it('two nodes appending at once number every event once, 1 … n, and each announces every number in order', async () => {
    const url = await database()
    const nodes = [new EventIndex((await node(url)).events), new EventIndex((await node(url)).events)]
    const announced = nodes.map(() => [] as number[])
    const numbered = nodes.map(() => [] as string[])
    nodes.forEach((index, i) => {
      index.on('stored', (_id, events) => announced[i]!.push(...events.map(({ seq }) => seq)))
      index.on('numbered', (_id, events) => numbered[i]!.push(...events.map(({ event }) => event.id)))
    })
    // Each node's own events, and events both receive (a change replicated to both nodes).
    const own = [0, 1].map(n => Array.from({ length: 150 }, (_, i) => message(`n${n}-${i}`)))
    const shared = Array.from({ length: 60 }, (_, i) => message(`shared-${i}`))
    const results = await Promise.all(
      nodes.map((index, n) => {
        const mine = batches([...own[n]!, ...shared].sort((a, b) => (n === 0 ? a.id.localeCompare(b.id) : b.id.localeCompare(a.id))))
        return Promise.all(mine.map(batch => index.record('conversation', batch)))
      }),
    )

    const all = (await nodes[0]!.page('conversation', { after: 0 }, 1000)).events
    const total = 300 + 60
    expect(all.map(({ seq }) => seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1))
    expect(new Set(all.map(({ event }) => event.id)).size).toBe(total)
    // Both nodes agree on every number, shared events included.
    const numbers = new Map(all.map(({ seq, event }) => [event.id, seq]))
    for (const result of results) for (const { seq, event } of result.flat()) expect(seq).toBe(numbers.get(event.id))
    // Each event was numbered by exactly one node.
    expect([...numbered[0]!, ...numbered[1]!].sort()).toEqual([...numbers.keys()].sort())
    // Each node announced consecutive numbers, none twice.
    for (const seqs of announced) expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i))
    expect(announced.map(seqs => seqs.at(-1))).toEqual([expect.any(Number), expect.any(Number)])
    expect(Math.max(...announced.map(seqs => seqs.at(-1)!))).toBe(total)
  })

  it('two servers on one database, writing to one conversation at once, give one gap-free sequence', async () => {
    const url = await database()
    const servers: TestServer[] = []
    for (let i = 0; i < 2; i++) {
      const server = await startTestServer({ postgres: url })
      cleanups.push(() => server.close())
      servers.push(server)
    }
    const call = async (server: TestServer, method: 'GET' | 'POST', path: string, body?: object) => {
      const response = await server.server.app.inject({ method, url: path, headers: { authorization: `Bearer ${await server.token('alice')}` }, ...(body ? { payload: body } : {}) })
      expect(response.statusCode, response.body).toBeLessThan(300)
      return response.json() as Record<string, any>
    }
    const id = (await call(servers[0]!, 'POST', '/v1/conversations', { members: ['bob'] })).id as string
    // With no bus between them, server 2 reads the conversation from the shared database
    // once server 1's storage writes (asynchronous) are there: until then it answers 404.
    for (;;) {
      const response = await servers[1]!.server.app.inject({ method: 'POST', url: `/v1/conversations/${id}/messages`, headers: { authorization: `Bearer ${await servers[1]!.token('alice')}` }, payload: { text: 'first' } })
      if (response.statusCode !== 404) {
        expect(response.statusCode, response.body).toBe(201)
        break
      }
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    const perServer = 25
    const sent = await Promise.all(
      servers.map((server, s) => Promise.all(Array.from({ length: perServer }, (_, i) => call(server, 'POST', `/v1/conversations/${id}/messages`, { text: `s${s}-${i}` })))),
    )
    const page = await call(servers[1]!, 'GET', `/v1/conversations/${id}/events?after=0&limit=500`)
    const messages = (page.events as Array<{ seq: number; type: string; text: string }>).filter(event => event.type === 'message')
    const seqs = (page.events as Array<{ seq: number }>).map(event => event.seq)
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1))
    const texts = ['first', ...[0, 1].flatMap(s => Array.from({ length: perServer }, (_, i) => `s${s}-${i}`))]
    expect(messages.map(event => event.text).sort()).toEqual(texts.sort())
    // Each publish was answered with the number the shared index holds for it.
    const byText = new Map(messages.map(event => [event.text, event.seq]))
    sent.forEach((answers, s) => answers.forEach((answer, i) => expect(answer.seq).toBe(byText.get(`s${s}-${i}`))))
  })
})
