/**
 * An HTTP publish answered 201 is on disk: the relay core writes accepted changes in
 * batches (relay/log-storage.ts, up to 100 ms later), so the service writes them before it
 * numbers the event and answers (conversations/service.ts). The server is SIGKILLed right
 * after each answer; its database then holds every published message in a segment, and
 * the restarted server serves them in the conversation's history.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ServerProcess } from '../support/server-process.ts'
import { checkStoredDocuments } from './support/storage-check.ts'

const ROUNDS = 5

describe('HTTP publish across a SIGKILL', () => {
  let server: ServerProcess
  beforeAll(async () => {
    server = await ServerProcess.start()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('keeps every message it answered 201 for in a segment', async () => {
    const http = (path: string, init: RequestInit = {}) =>
      server.token('alice').then(token =>
        fetch(`http://127.0.0.1:${server.port}${path}`, { ...init, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...init.headers } }),
      )
    const created = await http('/v1/conversations', { method: 'POST', body: JSON.stringify({ title: 'durable', members: ['bob'] }) })
    expect(created.status).toBe(201)
    const { id } = (await created.json()) as { id: string }
    const published: string[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const text = `published before kill ${round}`
      const answer = await http(`/v1/conversations/${id}/messages`, { method: 'POST', body: JSON.stringify({ text }) })
      expect(answer.status).toBe(201)
      published.push(text)
      // At once, inside the log's batch window.
      await server.kill('SIGKILL')
      const stored = await checkStoredDocuments(server.dataDir)
      expect(stored.unloadable).toEqual([])
      for (const sent of published) expect(stored.texts, `"${sent}" in a stored segment after round ${round}`).toContain(sent)
      await server.restart()
    }
    const history = (await (await http(`/v1/conversations/${id}/events?after=0`)).json()) as { events: { type: string; text?: string }[] }
    expect(history.events.filter(event => event.type === 'message').map(event => event.text)).toEqual(published)
  })
})
