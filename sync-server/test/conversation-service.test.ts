/**
 * ConversationService bookkeeping keyed by the conversation ID in a request path: a flood
 * of publishes to IDs that do not exist (or the caller may not write) leaves nothing behind.
 */
import { DEFAULT_LIMITS } from '@parley/core'
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ConversationService, type ServiceContext } from '../src/conversations/service.ts'

describe('ConversationService', () => {
  it('forgets the write queue of a conversation once its writes settle, refused ones included', async () => {
    const registry = { entry: async () => undefined, canRead: () => false }
    const service = new ConversationService({ registry, limits: DEFAULT_LIMITS, idempotencySecret: 'test-idempotency-secret' } as unknown as ServiceContext)
    const attempts = Array.from({ length: 200 }, () => service.publish('mallory', randomUUID(), { text: 'hi' }))
    expect(service.writesInProgress).toBe(200)
    for (const attempt of attempts) await expect(attempt).rejects.toMatchObject({ code: 'PARLEY_ERR_NOT_FOUND' })
    // Each queue's clean-up runs right after its write settles.
    await new Promise(resolve => setImmediate(resolve))
    expect(service.writesInProgress).toBe(0)
  })
})
