/**
 * SSE streams and long polls end when their welcome does: when the token's `exp` passes
 * (as REST refuses the token then) and when the member is removed. A stream says why in a
 * last `event: end`; a poll answers 401 or 403. When the server shuts down, both end at
 * once, without waiting for their clients to leave.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { timerAt } from '../src/http/stream.ts'
import { startTestServer, type TestServer } from '../src/testing.ts'

describe('streams and long polls end with their welcome', () => {
  let server: TestServer
  beforeAll(async () => (server = await startTestServer()))
  afterAll(() => server.close())

  async function call(token: string | Promise<string>, method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown) {
    const response = await server.server.app.inject({ method, url, headers: { authorization: `Bearer ${await token}` }, ...(body === undefined ? {} : { payload: body as object }) })
    return { status: response.statusCode, body: response.json() as Record<string, any> }
  }

  async function conversation(): Promise<string> {
    const created = await call(server.token('alice'), 'POST', '/v1/conversations', { members: ['bob'] })
    expect(created.status).toBe(201)
    return created.body.id as string
  }

  /** Opens an SSE stream over a real socket; `rest()` reads until the server ends it (or until `unwanted` shows up). */
  async function stream(id: string, token: string) {
    const response = await fetch(`${server.httpUrl}/v1/conversations/${id}/stream?after=0`, { headers: { authorization: `Bearer ${token}` } })
    expect(response.status).toBe(200)
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let text = ''
    return {
      async until(pattern: RegExp): Promise<string> {
        while (!pattern.test(text)) {
          const { value, done } = await reader.read()
          if (done) throw new Error(`the stream ended before ${pattern}: ${text}`)
          text += decoder.decode(value, { stream: true })
        }
        return text
      },
      async rest(unwanted: RegExp): Promise<string> {
        while (!unwanted.test(text)) {
          const { value, done } = await reader.read()
          if (done) return text
          text += decoder.decode(value, { stream: true })
        }
        return text
      },
    }
  }

  /** Until REST refuses `token` as expired: behaviour, not a clock reading. */
  async function untilExpired(token: string): Promise<void> {
    while ((await call(token, 'GET', '/v1/conversations')).status !== 401) await new Promise(resolve => setTimeout(resolve, 100))
  }

  const endEvent = (code: string) => new RegExp(`event: end\\ndata: \\{"code":"${code}","message":"[^"]+"\\}\\n\\n$`)

  it('ends an SSE stream when the token expires, with a last event saying so', async () => {
    const id = await conversation()
    const shortLived = await server.token('bob', '2s')
    const sse = await stream(id, shortLived)
    await call(server.token('alice'), 'POST', `/v1/conversations/${id}/messages`, { text: 'before expiry' })
    await sse.until(/"text":"before expiry"/)
    await untilExpired(shortLived)
    // Stored after the token expired: it must not reach the stream.
    await call(server.token('alice'), 'POST', `/v1/conversations/${id}/messages`, { text: 'after expiry' })
    const text = await sse.rest(/after expiry/)
    expect(text).not.toContain('after expiry')
    expect(text).toMatch(endEvent('PARLEY_ERR_UNAUTHENTICATED'))
    expect(text).toContain('token expired')
  })

  it('ends an SSE stream when the member is removed, with a last event saying so', async () => {
    const id = await conversation()
    const sse = await stream(id, await server.token('bob'))
    await call(server.token('alice'), 'POST', `/v1/conversations/${id}/messages`, { text: 'while a member' })
    await sse.until(/"text":"while a member"/)
    expect((await call(server.token('alice'), 'DELETE', `/v1/conversations/${id}/members/bob`)).status).toBe(200)
    await call(server.token('alice'), 'POST', `/v1/conversations/${id}/messages`, { text: 'after removal' })
    const text = await sse.rest(/after removal/)
    expect(text).not.toContain('after removal')
    expect(text).toMatch(endEvent('PARLEY_ERR_FORBIDDEN'))
  })

  it('answers a long poll whose token expires while it waits with 401', async () => {
    const id = await conversation()
    const shortLived = await server.token('bob', '2s')
    // Nothing is published: without the expiry the poll would answer empty after 20 s.
    const poll = await call(shortLived, 'GET', `/v1/conversations/${id}/events?after=0&wait=20`)
    expect(poll).toEqual({ status: 401, body: { error: { code: 'PARLEY_ERR_UNAUTHENTICATED', message: 'token expired while the poll waited' } } })
  })

  it('answers a long poll whose member is removed while it waits with 403, not the events since', async () => {
    const id = await conversation()
    const poll = call(server.token('bob'), 'GET', `/v1/conversations/${id}/events?after=0&wait=30`)
    // Remove bob only once the poll is parked, so its answer can only come from the wake-up.
    while (!/^parley_long_polls_waiting 1$/m.test((await server.server.app.inject({ method: 'GET', url: '/metrics' })).body)) {
      await new Promise(resolve => setImmediate(resolve))
    }
    expect((await call(server.token('alice'), 'DELETE', `/v1/conversations/${id}/members/bob`)).status).toBe(200)
    expect(await poll).toMatchObject({ status: 403, body: { error: { code: 'PARLEY_ERR_FORBIDDEN' } } })
  })
})

describe('streams and long polls when the server shuts down', () => {
  it('end at once, the stream with what was written and no end event, the poll empty as at its deadline', async () => {
    const server = await startTestServer()
    let closed = false
    try {
      const token = await server.token('alice')
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
      const created = await fetch(`${server.httpUrl}/v1/conversations`, { method: 'POST', headers, body: JSON.stringify({ members: ['bob'] }) })
      const { id } = (await created.json()) as { id: string }
      await fetch(`${server.httpUrl}/v1/conversations/${id}/messages`, { method: 'POST', headers, body: JSON.stringify({ text: 'before shutdown' }) })

      const stream = await fetch(`${server.httpUrl}/v1/conversations/${id}/stream?after=0`, { headers })
      const reader = stream.body!.getReader()
      const decoder = new TextDecoder()
      let text = ''
      while (!text.includes('before shutdown')) text += decoder.decode((await reader.read()).value, { stream: true })
      const poll = fetch(`${server.httpUrl}/v1/conversations/${id}/events?after=1&wait=60`, { headers })
      while (!/^parley_long_polls_waiting 1$/m.test(await (await fetch(`${server.httpUrl}/metrics`)).text())) await new Promise(resolve => setTimeout(resolve, 20))

      // Neither client leaves: without the server ending them, close() would wait for them (a minute for the poll, for ever for the stream).
      await server.close()
      closed = true
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value, { stream: true })
      expect(text).toContain('"text":"before shutdown"')
      expect(text).not.toContain('event: end')
      const answer = await poll
      expect(answer.status).toBe(200)
      expect(await answer.json()).toEqual({ events: [], next: 1 })
    } finally {
      if (!closed) await server.close()
    }
  })
})

describe('timerAt (a stream or poll ends at its token’s exp)', () => {
  it('fires at the time given, also beyond the ~24.8 days one timer reaches, and not when cancelled', () => {
    vi.useFakeTimers({ now: 0 })
    try {
      const day = 86_400_000
      const fired: string[] = []
      timerAt(30 * day, () => fired.push('30 days'))
      timerAt(1000, () => fired.push('1 s'))
      timerAt(2000, () => fired.push('cancelled')).cancel()
      timerAt(-5, () => fired.push('past'))
      vi.advanceTimersByTime(0)
      expect(fired).toEqual(['past'])
      vi.advanceTimersByTime(2000)
      expect(fired).toEqual(['past', '1 s'])
      // setTimeout alone would fire at once (delays past 2^31 - 1 ms overflow) or at 24.8 days.
      vi.advanceTimersByTime(29 * day)
      expect(fired).toEqual(['past', '1 s'])
      vi.advanceTimersByTime(day)
      expect(fired).toEqual(['past', '1 s', '30 days'])
    } finally {
      vi.useRealTimers()
    }
  })
})
