/**
 * Web Push on a real server against a real push service (push-service.ts: HTTPS, VAPID
 * checked, payload decrypted with the subscription's own keys): subscriptions registered
 * per device, validated and bounded; a message reaches each device of a member with no
 * device connected, and no device of a connected member; 410 deletes the subscription;
 * a 500 is retried with the queue's backoff.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import webpush from 'web-push'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mintToken } from '../src/auth/tokens.ts'
import { resolveServerOptions } from '../src/config.ts'
import { pushEvent } from '../src/push/payload.ts'
import { checkEndpoint } from '../src/push/subscription-input.ts'
import { startTestServer, type TestServer } from '../src/testing.ts'
import { RawClient } from './helpers.ts'
import { PushService } from './push-service.ts'

const SUBJECT = 'mailto:ops@example.org'

describe('web push', () => {
  let service: PushService
  let server: TestServer

  beforeAll(async () => {
    service = await PushService.start()
    server = await startTestServer({
      push: { agent: service.agent, allowPrivateEndpoints: true, text: true, vapidSubject: SUBJECT, maxDevicesPerUser: 3, backoff: { minMs: 5, maxMs: 20 }, timeoutMs: 500 },
    })
  })
  afterAll(async () => {
    await server?.close()
    await service?.close()
  })

  async function call(user: string | undefined, method: 'GET' | 'POST' | 'DELETE', url: string, body?: object, admin = false) {
    const headers = user === undefined ? {} : { authorization: `Bearer ${await mintToken(server.secret, user, { admin })}` }
    const response = await server.server.app.inject({ method, url, headers, ...(body ? { payload: body } : {}) })
    return { status: response.statusCode, body: response.body ? (response.json() as Record<string, any>) : {} }
  }
  const endpoints = async (user: string): Promise<string[]> => (await call(user, 'GET', '/v1/push/subscriptions')).body.subscriptions.map((s: { endpoint: string }) => s.endpoint)

  it('registers one subscription per device, refuses malformed ones, and keeps at most the limit per user', async () => {
    const phone = service.subscribe('dana-phone')
    expect((await call(undefined, 'POST', '/v1/push/subscriptions', phone)).status).toBe(401)
    expect((await call('dana', 'POST', '/v1/push/subscriptions', phone)).status).toBe(201)
    // The same endpoint again replaces it.
    expect((await call('dana', 'POST', '/v1/push/subscriptions', phone)).status).toBe(201)
    expect(await endpoints('dana')).toEqual([phone.endpoint])

    const refusals = [
      { ...phone, endpoint: 'http://push.example.org/x' },
      { ...phone, endpoint: 'https://user:pw@push.example.org/x' },
      { ...phone, endpoint: 'not a url' },
      { ...phone, keys: { ...phone.keys, auth: Buffer.alloc(8).toString('base64url') } },
      { ...phone, keys: { ...phone.keys, p256dh: Buffer.concat([Buffer.from([4]), Buffer.alloc(64)]).toString('base64url') } },
      { ...phone, keys: { p256dh: phone.keys.p256dh } },
      { ...phone, extra: 1 },
      { endpoint: 'x'.repeat(3000), keys: phone.keys },
    ]
    for (const body of refusals) {
      const answer = await call('dana', 'POST', '/v1/push/subscriptions', body)
      expect({ body, status: answer.status, code: answer.body.error?.code }).toEqual({ body, status: 400, code: 'PARLEY_ERR_BAD_REQUEST' })
    }

    // Names every object inherits, as keys of the body: refused, nothing stored.
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      const raw = `{"endpoint":${JSON.stringify(phone.endpoint)},"keys":${JSON.stringify(phone.keys)},${JSON.stringify(name)}:{"endpoint":"https://evil.example.org/x"}}`
      const response = await server.server.app.inject({ method: 'POST', url: '/v1/push/subscriptions', headers: { authorization: `Bearer ${await mintToken(server.secret, 'dana')}`, 'content-type': 'application/json' }, payload: raw })
      expect({ name, status: response.statusCode }).toEqual({ name, status: 400 })
    }
    expect(await endpoints('dana')).toEqual([phone.endpoint])

    // A fourth device drops the oldest (the limit is 3 here).
    const others = ['dana-laptop', 'dana-tablet', 'dana-work'].map(device => service.subscribe(device))
    for (const subscription of others) expect((await call('dana', 'POST', '/v1/push/subscriptions', subscription)).status).toBe(201)
    expect(await endpoints('dana')).toEqual(others.map(s => s.endpoint))
    // Another user sees and removes only their own.
    expect(await endpoints('eve')).toEqual([])
    expect((await call('eve', 'DELETE', '/v1/push/subscriptions', { endpoint: others[0]!.endpoint })).body).toEqual({ deleted: false })
    expect((await call('dana', 'DELETE', '/v1/push/subscriptions', { endpoint: others[0]!.endpoint })).body).toEqual({ deleted: true })
    expect(await endpoints('dana')).toEqual(others.slice(1).map(s => s.endpoint))
  })

  it('pushes a new message to every device of an offline member, encrypted and signed, and to none of a connected one', async () => {
    const devices = { phone: service.subscribe('bob-phone'), laptop: service.subscribe('bob-laptop'), carol: service.subscribe('carol-phone') }
    await call('bob', 'POST', '/v1/push/subscriptions', devices.phone)
    await call('bob', 'POST', '/v1/push/subscriptions', devices.laptop)
    await call('carol', 'POST', '/v1/push/subscriptions', devices.carol)
    const carol = await RawClient.open(server, 'carol')
    await carol.join('carol-online')
    try {
      const id = (await call('alice', 'POST', '/v1/conversations', { title: 'Launch', members: ['bob', 'carol'] })).body.id as string
      const sent = (await call('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'Go at noon', priority: 'high' })).body
      const pushes = (await service.waitFor(2)).filter(push => push.payload.conversationId === id)
      expect(pushes.map(push => push.device).sort()).toEqual(['bob-laptop', 'bob-phone'])
      const { publicKey } = (await call(undefined, 'GET', '/v1/push')).body
      for (const push of pushes) {
        expect(push.payload).toEqual({ v: 1, conversationId: id, title: 'Launch', sender: 'alice', text: 'Go at noon', seq: sent.seq, eventId: sent.eventId, at: expect.any(Number) })
        expect(push.headers).toMatchObject({ urgency: 'high', ttl: '86400', 'content-encoding': 'aes128gcm' })
        expect(push.vapid.publicKey).toBe(publicKey)
        expect(push.vapid.claims.sub).toBe(SUBJECT)
      }
      // A low-priority message goes out at low urgency.
      await call('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'no rush', priority: 'low' })
      const low = (await service.waitFor(4)).slice(2)
      expect(low.map(push => [push.device, push.headers.urgency, push.payload.text]).sort()).toEqual([['bob-laptop', 'low', 'no rush'], ['bob-phone', 'low', 'no rush']])
      expect(service.received.some(push => push.device === 'carol-phone')).toBe(false)
      expect(service.refused).toEqual([])
    } finally {
      carol.socket.close()
    }
  })

  it('deletes a subscription the push service says is gone (410), and retries one that fails with 500', async () => {
    const gone = service.subscribe('fay-old')
    const flaky = service.subscribe('fay-new')
    await call('fay', 'POST', '/v1/push/subscriptions', gone)
    await call('fay', 'POST', '/v1/push/subscriptions', flaky)
    service.answer = (device, index) => (device === 'fay-old' ? 410 : device === 'fay-new' && index < 2 ? 500 : 201)
    const id = (await call('alice', 'POST', '/v1/conversations', { members: ['fay'] })).body.id as string
    const sent = (await call('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'still there?' })).body

    await service.waitForAnswers('fay-new', 3)
    const delivered = service.received.filter(push => push.device === 'fay-new')
    expect(delivered.map(push => push.payload.eventId)).toEqual([sent.eventId])
    await service.waitForAnswers('fay-old', 1)
    // The 410 is answered before the server deletes: wait for the deletion, not for a time.
    while ((await endpoints('fay')).includes(gone.endpoint)) await new Promise(resolve => setTimeout(resolve, 10))
    expect(await endpoints('fay')).toEqual([flaky.endpoint])

    // A gone subscription is not tried again.
    await call('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'second' })
    await service.waitFor(service.received.length + 1)
    expect(service.received.at(-1)!.device).toBe('fay-new')
    await service.waitForAnswers('fay-new', 4)
    expect(service.refused).toEqual([])
  })

  it("shows the push queue's counters and dead letters to admins only", async () => {
    expect((await call('alice', 'GET', '/v1/admin/push')).status).toBe(403)
    const { status, body } = await call('ops', 'GET', '/v1/admin/push', undefined, true)
    expect(status).toBe(200)
    expect(body.stats.retries).toBeGreaterThanOrEqual(2)
    expect((await call('ops', 'GET', '/v1/admin/push/dead-letters', undefined, true)).body).toEqual({ deadLetters: [] })
    // And as metrics: pushes sent, gone (the 410) and failed (the 500s), and the queue.
    const text = (await server.server.app.inject({ method: 'GET', url: '/metrics' })).body
    const value = (line: string): number => Number(new RegExp(`^${line.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN)
    expect(value('parley_push_attempts_total{outcome="sent"}')).toBeGreaterThanOrEqual(5)
    expect(value('parley_push_attempts_total{outcome="gone"}')).toBe(1)
    expect(value('parley_push_attempts_total{outcome="failed"}')).toBe(2)
    expect(text).toMatch(/^parley_push_queue_depth \d+$/m)
    expect(value('parley_push_dead_letters')).toBe(0)
  })
})

describe('web push to a push service that never answers', () => {
  let service: PushService
  let server: TestServer
  beforeAll(async () => {
    service = await PushService.start()
    server = await startTestServer({ push: { agent: service.agent, allowPrivateEndpoints: true, backoff: { minMs: 5, maxMs: 20 }, timeoutMs: 300 } })
  })
  afterAll(async () => {
    await server?.close()
    await service?.close()
  })

  it('gives up on the request after the timeout and tries again', async () => {
    const token = async (user: string) => ({ authorization: `Bearer ${await mintToken(server.secret, user)}` })
    const inject = async (user: string, method: 'POST', url: string, payload: object) => (await server.server.app.inject({ method, url, headers: await token(user), payload })).json() as Record<string, any>
    service.answer = (_device, index) => (index === 0 ? 'hang' : 201)
    await inject('gil', 'POST', '/v1/push/subscriptions', service.subscribe('gil-phone'))
    const id = (await inject('alice', 'POST', '/v1/conversations', { members: ['gil'] })).id as string
    const sent = await inject('alice', 'POST', `/v1/conversations/${id}/messages`, { text: 'hello?' })
    const [push] = await service.waitFor(1)
    expect(push!.payload.eventId).toBe(sent.eventId)
    await service.waitForAnswers('gil-phone', 2)
  })
})

describe('VAPID keys', () => {
  it('are generated into the data directory on first start and kept across restarts', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-push-keys-'))
    try {
      const first = await startTestServer({ dataDir })
      const key = (await first.server.app.inject({ method: 'GET', url: '/v1/push' })).json().publicKey as string
      await first.close()
      const stored = JSON.parse(await readFile(join(dataDir, 'vapid.json'), 'utf8')) as { publicKey: string }
      expect(stored.publicKey).toBe(key)
      expect((await stat(join(dataDir, 'vapid.json'))).mode & 0o777).toBe(0o600)
      const again = await startTestServer({ dataDir })
      try {
        expect((await again.server.app.inject({ method: 'GET', url: '/v1/push' })).json()).toEqual({ publicKey: key, text: false })
      } finally {
        await again.close()
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  })

  it('are taken from the options when given, and refused when only one is', async () => {
    const given = webpush.generateVAPIDKeys()
    const server = await startTestServer({ push: { vapidPublicKey: given.publicKey, vapidPrivateKey: given.privateKey } })
    try {
      expect((await server.server.app.inject({ method: 'GET', url: '/v1/push' })).json().publicKey).toBe(given.publicKey)
    } finally {
      await server.close()
    }
    expect(() => resolveServerOptions({ push: { vapidPublicKey: given.publicKey } })).toThrow(/both VAPID keys/)
    expect(() => resolveServerOptions({ push: { vapidSubject: 'ops@example.org' } })).toThrow(/mailto: address or an https: URL/)
    expect(resolveServerOptions({ push: false }).push).toBe(false)
  })
})

describe('push rules', () => {
  it('refuses endpoints inside the network unless allowed', () => {
    for (const endpoint of ['https://127.0.0.1/p', 'https://[::1]/p', 'https://localhost/p', 'https://printer.local/p', 'https://intranet/p', 'https://10.0.0.8:8443/p']) {
      expect(() => checkEndpoint(endpoint, false), endpoint).toThrow(/not a push service/)
      expect(() => checkEndpoint(endpoint, true)).not.toThrow()
    }
    expect(() => checkEndpoint('https://fcm.googleapis.com/fcm/send/abc', false)).not.toThrow()
    expect(() => checkEndpoint('https://web.push.apple.com/QGx', false)).not.toThrow()
  })

  it('keeps the text out of what is queued unless the operator allows it, and bounds it', () => {
    const event = { id: 'e1', author: 'alice', at: 1, text: 'secret plans' }
    expect(pushEvent(event, 'Launch', false)).toEqual({ id: 'e1', author: 'alice', at: 1, title: 'Launch' })
    expect(pushEvent(event, undefined, true)).toEqual({ id: 'e1', author: 'alice', at: 1, text: 'secret plans' })
    const long = pushEvent({ ...event, text: '€'.repeat(5000) }, 't'.repeat(500), true)
    expect(Buffer.byteLength(long.text!)).toBeLessThanOrEqual(1000)
    expect(Buffer.byteLength(long.title!)).toBeLessThanOrEqual(200)
    expect(long.text!.endsWith('…')).toBe(true)
  })
})
