/**
 * The Web Push routes (docs/push.md, docs/http.md): the server's VAPID public key, and the
 * caller's push subscriptions, one per device. Registering needs the same bearer token
 * as every other route; a user sees and removes only their own.
 */
// Type-only: brings swagger's `tags` and `summary` into FastifySchema.
import type {} from '@fastify/swagger'
import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify'
import { caller } from '../http/auth.ts'
import { errorBody } from '../http/schemas.ts'
import type { ResolvedPushOptions } from './options.ts'
import { checkEndpoint, checkKeys, deviceId, type SubscriptionInput } from './subscription-input.ts'
import type { PushSubscriptionStore } from './subscriptions.ts'

export interface PushRouteContext {
  store: PushSubscriptionStore
  publicKey: string
  options: ResolvedPushOptions
  authenticate: preHandlerAsyncHookHandler
}

const security = [{ bearer: [] }]
const errors = { 400: errorBody, 401: errorBody }
/** Push service URLs are a few hundred characters; 2 KiB leaves room and bounds what is stored per device. */
const endpoint = { type: 'string', minLength: 1, maxLength: 2048 } as const
const base64url = (maxLength: number) => ({ type: 'string', pattern: '^[A-Za-z0-9_-]+={0,2}$', maxLength }) as const

const subscriptionBody = {
  type: 'object',
  additionalProperties: false,
  required: ['endpoint', 'keys'],
  properties: {
    endpoint,
    // PushSubscription.toJSON() sends it; the server does not use it.
    expirationTime: { type: ['number', 'null'] },
    keys: {
      type: 'object',
      additionalProperties: false,
      required: ['p256dh', 'auth'],
      properties: { p256dh: base64url(100), auth: base64url(40) },
    },
  },
} as const

const deviceView = {
  type: 'object',
  properties: { id: { type: 'string' }, endpoint: { type: 'string' }, createdAt: { type: 'integer' } },
  required: ['id', 'endpoint', 'createdAt'],
} as const

export function pushRoutes(app: FastifyInstance, { store, publicKey, options, authenticate }: PushRouteContext): void {
  app.get('/v1/push', {
    schema: {
      tags: ['push'],
      summary: 'The VAPID public key to subscribe with (applicationServerKey), and whether pushes carry message text',
      response: { 200: { type: 'object', properties: { publicKey: { type: 'string' }, text: { type: 'boolean' } }, required: ['publicKey', 'text'] } },
    },
  }, async () => ({ publicKey, text: options.text }))

  app.get('/v1/push/subscriptions', {
    preHandler: authenticate,
    schema: {
      tags: ['push'],
      summary: "The caller's push subscriptions, oldest first",
      security,
      response: { 200: { type: 'object', properties: { subscriptions: { type: 'array', items: deviceView } }, required: ['subscriptions'] }, ...errors },
    },
  }, async request => {
    const devices = await store.devices(caller(request).user)
    return { subscriptions: devices.map(({ id, endpoint, createdAt }) => ({ id, endpoint, createdAt })) }
  })

  app.post<{ Body: SubscriptionInput }>('/v1/push/subscriptions', {
    preHandler: authenticate,
    schema: {
      tags: ['push'],
      summary: `Register this device's push subscription (PushSubscription.toJSON()); the same endpoint again replaces it. Each user keeps at most ${options.maxDevicesPerUser}: one more drops their oldest`,
      security,
      body: subscriptionBody,
      response: { 201: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] }, ...errors },
    },
  }, async (request, reply) => {
    const { endpoint, keys } = request.body
    checkEndpoint(endpoint, options.allowPrivateEndpoints)
    checkKeys(keys)
    const id = deviceId(endpoint)
    await store.add(caller(request).user, { id, endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth }, createdAt: Date.now() }, options.maxDevicesPerUser)
    return reply.code(201).send({ id })
  })

  app.delete<{ Body: { endpoint: string } }>('/v1/push/subscriptions', {
    preHandler: authenticate,
    schema: {
      tags: ['push'],
      summary: "Remove this device's push subscription (signing out, or notifications turned off)",
      security,
      body: { type: 'object', additionalProperties: false, required: ['endpoint'], properties: { endpoint } },
      response: { 200: { type: 'object', properties: { deleted: { type: 'boolean' } }, required: ['deleted'] }, ...errors },
    },
  }, async request => ({ deleted: await store.remove(caller(request).user, deviceId(request.body.endpoint)) }))
}
