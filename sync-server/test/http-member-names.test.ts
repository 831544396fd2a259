/**
 * Member IDs over HTTP follow core's isValidUserId (docs/security.md, "Member names
 * over HTTP"): a name every object inherits, or one of the server's own, is refused with
 * 400 naming it, on create and on add, and nothing is written.
 */
import { INHERITED_NAMES, MODERATION_AUTHOR } from '@parley/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from '../src/testing.ts'

let server: TestServer
let owner: string
beforeAll(async () => {
  server = await startTestServer()
  owner = `Bearer ${await server.token('owner')}`
})
afterAll(() => server.close())

const inject = (method: 'GET' | 'POST', url: string, payload?: unknown) => server.server.app.inject({ method, url, headers: { authorization: owner }, payload: payload as object })

describe('member names over HTTP', () => {
  const refused = [...INHERITED_NAMES, MODERATION_AUTHOR]

  it.each(refused)('POST /v1/conversations refuses member %j with 400', async name => {
    const response = await inject('POST', '/v1/conversations', { kind: 'group', members: ['bob', name] })
    expect(response.statusCode).toBe(400)
    expect(response.json().error.code).toBe('PARLEY_ERR_BAD_REQUEST')
    expect(response.json().error.message).toContain(JSON.stringify(name))
  })

  it.each(refused)('POST …/members refuses %j with 400 and writes nothing', async name => {
    const created = await inject('POST', '/v1/conversations', { kind: 'group', members: ['bob'] })
    expect(created.statusCode).toBe(201)
    const id = created.json().id as string
    const response = await inject('POST', `/v1/conversations/${id}/members`, { userId: name })
    expect(response.statusCode).toBe(400)
    expect(response.json().error.code).toBe('PARLEY_ERR_BAD_REQUEST')
    expect(response.json().error.message).toContain(JSON.stringify(name))
    const head = await inject('GET', `/v1/conversations/${id}`)
    expect(head.json().members.map((m: { userId: string }) => m.userId).sort()).toEqual(['bob', 'owner'])
    const events = await inject('GET', `/v1/conversations/${id}/events?after=0`)
    expect(events.json().events.filter((e: { type: string }) => e.type === 'member-added')).toEqual([])
  })
})
