/** The access registry's cache: what it answers from memory, and what it forgets; on each storage backend. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AccessRegistry, roleIn } from '../src/access/registry.ts'
import { BACKENDS, openBackend, type OpenBackend } from './storage/backends.ts'

describe.each(BACKENDS)('AccessRegistry on %s', backend => {
  let opened: OpenBackend
  let registry: AccessRegistry
  beforeAll(async () => {
    opened = await openBackend(backend)
    registry = new AccessRegistry(opened.databases.registry)
    await registry.register('head', { type: 'head', members: { alice: 'owner', bob: 'member' } })
    await registry.register('segment', { type: 'segment', conversation: 'head', creator: 'alice' })
  })
  afterAll(() => opened.close())

  it('refuses a forgotten document until its entry is read again, never guessing', async () => {
    expect(registry.canRead('bob', 'segment')).toBe(true)
    registry.forget('head')
    // The segment's conversation is not in memory: refused, even for the segment's creator.
    expect(registry.canRead('alice', 'segment')).toBe(false)
    expect(await registry.mayRead('bob', 'segment')).toBe(true)
    registry.forget('segment')
    registry.forget('head')
    expect(registry.canRead('bob', 'segment')).toBe(false)
    expect(registry.canRead('bob', 'head')).toBe(false)
    expect(await registry.mayRead('bob', 'head')).toBe(true)
    expect(await registry.mayRead('carol', 'segment')).toBe(false)
  })

  it.each(['constructor', '__proto__', 'toString', 'valueOf', 'hasOwnProperty'])('does not count %s as a member of every conversation (issue 13, item 3)', async name => {
    expect(await registry.mayRead(name, 'head')).toBe(false)
    expect(await registry.mayRead(name, 'segment')).toBe(false)
    expect(roleIn(registry.membersOf('head')!, name)).toBeUndefined()
    // Nor once the entry has gone through the database and back (JSON, plain objects).
    registry.forget('head')
    registry.forget('segment')
    expect(await registry.mayRead(name, 'segment')).toBe(false)
    expect(roleIn(registry.membersOf('head')!, name)).toBeUndefined()
    expect(await registry.mayRead('bob', 'segment')).toBe(true)
  })

  it('lets only the creator read a segment whose conversation is not registered', async () => {
    await registry.register('early', { type: 'segment', conversation: 'unknown-head', creator: 'alice' })
    expect(await registry.mayRead('alice', 'early')).toBe(true)
    expect(await registry.mayRead('bob', 'early')).toBe(false)
  })

  it('keeps recent actor owners in memory and reads older ones back', async () => {
    for (let i = 0; i < 2_100; i++) await registry.bindActor(`actor-${i}`, `user-${i % 3}`)
    expect(await registry.actorOwner('actor-0')).toBe('user-0')
    expect(await registry.actorOwner('actor-2099')).toBe('user-2')
    expect(await registry.actorOwner('never-bound')).toBeUndefined()
  })
})
