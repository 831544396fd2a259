import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { signWebhook, verifyWebhook, WebhookDispatcher, type QueuedNotification, type WebhookNotification, type WebhookOptions } from '../src/webhooks/dispatcher.ts'
import { webhookAdminRoutes } from '../src/webhooks/routes.ts'
import { Receiver, type Behaviour } from './fixtures/webhook-receiver.ts'

const SECRET = 'webhook-test-secret'

function notification(overrides: Partial<WebhookNotification> = {}): WebhookNotification {
  return {
    conversationId: 'conv-1',
    seq: 7,
    event: { id: 'evt-1', type: 'message', author: 'alice', at: 1_700_000_000_000, text: 'hi' },
    recipients: ['bob', 'carol'],
    priority: 'normal',
    ...overrides,
  }
}

function next(dispatcher: WebhookDispatcher, event: 'delivered' | 'retry' | 'dead-letter'): Promise<QueuedNotification> {
  return new Promise(resolve => dispatcher.once(event, resolve))
}

/** Resolves once `count` deliveries succeeded, their bookkeeping done. */
function deliveredCount(dispatcher: WebhookDispatcher, count: number): Promise<void> {
  return new Promise(resolve => {
    const check = (): void => {
      if (dispatcher.stats().delivered < count) return
      dispatcher.off('delivered', check)
      resolve()
    }
    dispatcher.on('delivered', check)
    check()
  })
}

describe('webhook dispatcher', () => {
  const cleanups: (() => Promise<unknown>)[] = []
  afterEach(async () => {
    // Dispatchers first (they may hold requests to receivers), directories last.
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  const warnings: object[] = []
  async function setup(options: Partial<WebhookOptions> = {}, behaviour?: Behaviour) {
    const dir = await mkdtemp(join(tmpdir(), 'parley-webhooks-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const receiver = await new Receiver(behaviour).start()
    cleanups.push(() => receiver.close())
    const open = async (more: Partial<WebhookOptions> = {}) => {
      const dispatcher = await WebhookDispatcher.open({
        dir,
        url: receiver.url,
        secret: SECRET,
        backoff: { minMs: 5, maxMs: 50 },
        log: { warn: obj => warnings.push(obj), info: () => {} },
        ...options,
        ...more,
      })
      cleanups.push(() => dispatcher.close())
      return dispatcher
    }
    return { dir, receiver, open, dispatcher: await open() }
  }

  it('signs each delivery so verifyWebhook accepts it, and only with the right secret, body and a fresh timestamp', async () => {
    const { receiver, dispatcher } = await setup()
    const delivered = next(dispatcher, 'delivered')
    const id = await dispatcher.enqueue(notification())
    await delivered
    const [request] = receiver.received
    if (!request) throw new Error('nothing received')
    expect(request.headers['content-type']).toBe('application/json')
    expect(request.headers['x-parley-delivery']).toBe(id)
    expect(request.headers['x-parley-signature']).toMatch(/^sha256=[0-9a-f]{64}$/)
    expect(request.json).toEqual({ id, ...notification(), attempt: 1 })
    expect(verifyWebhook(SECRET, request.headers, request.body)).toBe(true)
    expect(verifyWebhook(SECRET, new Headers(request.headers as Record<string, string>), Buffer.from(request.body))).toBe(true)
    expect(verifyWebhook('wrong-secret', request.headers, request.body)).toBe(false)
    expect(verifyWebhook(SECRET, request.headers, request.body.replace('"hi"', '"hello"'))).toBe(false)
    const stale = Date.now() - 10 * 60_000
    const staleHeaders = { 'x-parley-timestamp': String(stale), 'x-parley-signature': signWebhook(SECRET, stale, request.body) }
    expect(verifyWebhook(SECRET, staleHeaders, request.body)).toBe(false)
    expect(verifyWebhook(SECRET, staleHeaders, request.body, 20 * 60_000)).toBe(true)
    expect(verifyWebhook(SECRET, {}, request.body)).toBe(false)
  })

  it('retries failures (status and timeout) until the receiver accepts, with the same payload but attempt', async () => {
    const { receiver, dispatcher } = await setup({ timeoutMs: 1000 }, index => (index === 2 ? 'hang' : index < 3 ? 500 : 200))
    const errors: (string | undefined)[] = []
    dispatcher.on('retry', n => errors.push(n.lastError))
    const delivered = next(dispatcher, 'delivered')
    const id = await dispatcher.enqueue(notification({ priority: 'high' }))
    expect((await delivered).attempts).toBe(4)
    expect(receiver.received.map(request => request.json.attempt)).toEqual([1, 2, 3, 4])
    for (const request of receiver.received) {
      expect(request.json).toEqual({ id, ...notification({ priority: 'high' }), attempt: request.json.attempt })
      expect(request.headers['x-parley-delivery']).toBe(id)
      expect(verifyWebhook(SECRET, request.headers, request.body)).toBe(true)
    }
    expect(errors).toEqual(['HTTP 500', 'HTTP 500', 'timed out after 1000 ms'])
    expect(dispatcher.stats()).toEqual({ queued: 0, held: 0, inFlight: 0, retries: 3, deadLetters: 0, delivered: 1 })
  })

  it('delivers higher priorities first, FIFO within a priority', async () => {
    let release!: () => void
    const gate = new Promise<number>(resolve => (release = () => resolve(200)))
    const { receiver, dispatcher } = await setup({ concurrency: 1 }, index => (index === 0 ? gate : 200))
    // The blocker occupies the only delivery slot, so everything after it waits in the queue.
    await dispatcher.enqueue(notification({ seq: 0 }))
    await receiver.waitFor(1)
    for (const [seq, priority] of [[1, 'low'], [2, 'normal'], [3, 'high'], [4, 'low'], [5, 'high']] as const) {
      await dispatcher.enqueue(notification({ seq, priority }))
    }
    expect(dispatcher.stats()).toMatchObject({ queued: 5, inFlight: 1 })
    release()
    await receiver.waitFor(6)
    expect(receiver.received.map(request => [request.json.seq, request.json.priority])).toEqual([
      [0, 'normal'], [3, 'high'], [5, 'high'], [2, 'normal'], [1, 'low'], [4, 'low'],
    ])
  })

  it('holds at most `window` queued notifications per priority in memory, the rest on disk, and still delivers them all in order', async () => {
    let release!: () => void
    const gate = new Promise<number>(resolve => (release = () => resolve(200)))
    const { receiver, dispatcher } = await setup({ concurrency: 1, window: 4 }, index => (index === 0 ? gate : 200))
    await dispatcher.enqueue(notification({ seq: 0 }))
    await receiver.waitFor(1)
    const priorities = ['low', 'normal', 'high'] as const
    for (let seq = 1; seq <= 30; seq++) await dispatcher.enqueue(notification({ seq, priority: priorities[seq % 3]! }))
    const waiting = dispatcher.stats()
    expect(waiting).toMatchObject({ queued: 30, inFlight: 1 })
    expect(waiting.held).toBeLessThanOrEqual(3 * 4)
    release()
    await deliveredCount(dispatcher, 31)
    const bySeq = (priority: string) => Array.from({ length: 30 }, (_, i) => i + 1).filter(seq => priorities[seq % 3] === priority)
    expect(receiver.received.map(request => request.json.seq)).toEqual([0, ...bySeq('high'), ...bySeq('normal'), ...bySeq('low')])
    expect(dispatcher.stats()).toMatchObject({ queued: 0, held: 0, inFlight: 0 })
  })

  it('resumes a long queue after a restart without loading it all', async () => {
    const { receiver, open, dispatcher: first } = await setup({ concurrency: 1, timeoutMs: 200, window: 4 }, () => 'hang')
    for (let seq = 1; seq <= 20; seq++) await first.enqueue(notification({ seq }))
    await first.close()
    receiver.behaviour = () => 200
    const before = receiver.received.length
    const second = await open()
    expect(second.stats().held).toBeLessThanOrEqual(4)
    await deliveredCount(second, 20)
    expect(new Set(receiver.received.slice(before).map(request => request.json.seq))).toEqual(new Set(Array.from({ length: 20 }, (_, i) => i + 1)))
    expect(second.stats()).toMatchObject({ queued: 0, held: 0, inFlight: 0 })
  })

  it('dead-letters a notification after maxAttempts, lists it, and replay delivers it once the receiver recovers', async () => {
    let healthy = false
    const { receiver, dispatcher } = await setup({ maxAttempts: 3 }, () => (healthy ? 200 : 503))
    const dead = next(dispatcher, 'dead-letter')
    const id = await dispatcher.enqueue(notification())
    expect(await dead).toMatchObject({ id, attempts: 3, lastError: 'HTTP 503' })
    expect(receiver.received).toHaveLength(3)
    expect(await dispatcher.deadLetters()).toEqual([expect.objectContaining({ id, attempts: 3, lastError: 'HTTP 503', conversationId: 'conv-1' })])
    expect(dispatcher.stats()).toMatchObject({ queued: 0, inFlight: 0, deadLetters: 1, delivered: 0 })
    expect(warnings).toContainEqual(expect.objectContaining({ id, attempts: 3 }))

    healthy = true
    const delivered = next(dispatcher, 'delivered')
    expect(await dispatcher.replay(id)).toBe(true)
    expect((await delivered).attempts).toBe(1)
    expect(receiver.received.at(-1)?.json).toMatchObject({ id, attempt: 1 })
    expect(await dispatcher.deadLetters()).toEqual([])
    expect(dispatcher.stats()).toMatchObject({ deadLetters: 0, delivered: 1 })
    expect(await dispatcher.replay(id)).toBe(false)
    expect(await dispatcher.replay('unknown')).toBe(false)
  })

  it('resumes the queue after a restart', async () => {
    // A port nobody listens on: the first attempts fail with a network error.
    const down = await new Receiver().start()
    await down.close()
    const { receiver, open, dispatcher: first } = await setup({ url: down.url, backoff: { minMs: 300, maxMs: 300 } })
    const retried = next(first, 'retry')
    const id = await first.enqueue(notification({ priority: 'low' }))
    expect((await retried).lastError).toBe('ECONNREFUSED')
    await first.close()
    expect(receiver.received).toHaveLength(0)

    const second = await open({ url: receiver.url, backoff: { minMs: 5, maxMs: 50 } })
    expect((await next(second, 'delivered')).id).toBe(id)
    expect(receiver.received).toHaveLength(1)
    const [request] = receiver.received
    expect(request?.json).toMatchObject({ id, ...notification({ priority: 'low' }) })
    expect(request?.json.attempt).toBeGreaterThanOrEqual(2)
    expect(second.stats()).toMatchObject({ queued: 0, inFlight: 0, delivered: 1 })
  })

  it('refuses invalid options', async () => {
    const base = { dir: '/tmp/unused', url: 'http://127.0.0.1:1/', secret: 's', log: { warn() {}, info() {} } }
    await expect(WebhookDispatcher.open({ ...base, url: 'ftp://x' })).rejects.toMatchObject({ code: 'PARLEY_ERR_INVALID_OPTION' })
    await expect(WebhookDispatcher.open({ ...base, secret: '' })).rejects.toMatchObject({ code: 'PARLEY_ERR_INVALID_OPTION' })
    await expect(WebhookDispatcher.open({ ...base, concurrency: 0 })).rejects.toMatchObject({ code: 'PARLEY_ERR_INVALID_OPTION' })
    await expect(WebhookDispatcher.open({ ...base, colour: 'red' } as WebhookOptions)).rejects.toMatchObject({ code: 'PARLEY_ERR_INVALID_OPTION' })
  })

  it('serves stats, dead letters and replay on the admin routes', async () => {
    let healthy = false
    const { dispatcher } = await setup({ maxAttempts: 1 }, () => (healthy ? 200 : 500))
    const app = Fastify()
    cleanups.push(() => app.close())
    const requireAdmin = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      if (request.headers['x-test-admin'] !== 'yes') return void reply.code(403).send({ error: { code: 'PARLEY_ERR_FORBIDDEN', message: 'admins only' } })
    }
    webhookAdminRoutes(app, dispatcher, requireAdmin)
    const admin = { 'x-test-admin': 'yes' }

    const dead = next(dispatcher, 'dead-letter')
    const id = await dispatcher.enqueue(notification())
    await dead

    const refused = await app.inject({ method: 'GET', url: '/v1/admin/webhooks' })
    expect(refused.statusCode).toBe(403)
    expect(refused.json()).toEqual({ error: { code: 'PARLEY_ERR_FORBIDDEN', message: 'admins only' } })
    expect((await app.inject({ method: 'POST', url: `/v1/admin/webhooks/dead-letters/${id}/replay` })).statusCode).toBe(403)

    const stats = await app.inject({ method: 'GET', url: '/v1/admin/webhooks', headers: admin })
    expect(stats.statusCode).toBe(200)
    expect(stats.json()).toEqual({ stats: { queued: 0, held: 0, inFlight: 0, retries: 0, deadLetters: 1, delivered: 0 } })

    const list = await app.inject({ method: 'GET', url: '/v1/admin/webhooks/dead-letters', headers: admin })
    expect(list.statusCode).toBe(200)
    expect(list.json()).toEqual({ deadLetters: [{ id, ...notification(), attempts: 1, enqueuedAt: expect.any(Number), lastError: 'HTTP 500' }] })

    const missing = await app.inject({ method: 'POST', url: '/v1/admin/webhooks/dead-letters/nosuchid/replay', headers: admin })
    expect(missing.statusCode).toBe(404)
    expect(missing.json()).toMatchObject({ error: { code: 'PARLEY_ERR_NOT_FOUND' } })
    expect((await app.inject({ method: 'POST', url: '/v1/admin/webhooks/dead-letters/NOT..valid/replay', headers: admin })).statusCode).toBe(400)

    healthy = true
    const delivered = next(dispatcher, 'delivered')
    const replayed = await app.inject({ method: 'POST', url: `/v1/admin/webhooks/dead-letters/${id}/replay`, headers: admin })
    expect(replayed.statusCode).toBe(202)
    expect(replayed.json()).toEqual({ replayed: id })
    expect((await delivered).id).toBe(id)
    const after = await app.inject({ method: 'GET', url: '/v1/admin/webhooks/dead-letters', headers: admin })
    expect(after.json()).toEqual({ deadLetters: [] })
  })

  it('lists dead letters a page at a time', async () => {
    const { dispatcher } = await setup({ maxAttempts: 1 }, () => 500)
    const app = Fastify()
    cleanups.push(() => app.close())
    webhookAdminRoutes(app, dispatcher, async () => {})
    const ids: string[] = []
    for (let seq = 1; seq <= 5; seq++) {
      const dead = next(dispatcher, 'dead-letter')
      ids.push(await dispatcher.enqueue(notification({ seq })))
      await dead
    }
    const list = async (query: string) => (await app.inject({ method: 'GET', url: `/v1/admin/webhooks/dead-letters${query}` })).json()
    const first = await list('?limit=2')
    expect(first).toEqual({ deadLetters: [expect.objectContaining({ id: ids[0] }), expect.objectContaining({ id: ids[1] })], next: ids[1] })
    expect((await list(`?limit=2&after=${first.next}`)).deadLetters.map((n: { id: string }) => n.id)).toEqual(ids.slice(2, 4))
    expect(await list(`?limit=2&after=${ids[3]}`)).toEqual({ deadLetters: [expect.objectContaining({ id: ids[4] })] })
    expect((await app.inject({ method: 'GET', url: '/v1/admin/webhooks/dead-letters?limit=100000' })).statusCode).toBe(400)
  })
})
