/**
 * Two nodes' access registries on one PostgreSQL database: what one records, the other
 * reads, and an actor bound on one node cannot be bound to someone else on another.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { AccessRegistry } from '../../src/access/registry.ts'
import { openDatabases } from '../../src/storage/databases.ts'
import { createTestDatabase } from '../../src/testing.ts'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function node(url: string): Promise<AccessRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-pg-registry-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  const databases = await openDatabases(dir, { retryMs: 1000, maxHeldBytes: 1 << 20, minFreeBytes: 0, postgres: url })
  cleanups.push(() => databases.close())
  return new AccessRegistry(databases.registry)
}

describe('access registries sharing PostgreSQL', () => {
  it('share entries, accepted hashes and actor owners, and the first binding of an actor stands', async () => {
    const database = await createTestDatabase()
    cleanups.push(() => database.drop())
    const [one, two] = [await node(database.url), await node(database.url)]

    await one.register('head', { type: 'head', members: { alice: 'owner', bob: 'member' } })
    await one.accept(['hash-1'])
    expect(await two.mayRead('bob', 'head')).toBe(true)
    expect(await two.mayRead('mallory', 'head')).toBe(false)
    expect(await two.wasAccepted('hash-1')).toBe(true)

    // Both nodes found the actor unbound (as their guards would) and bind it at once.
    expect([await one.actorOwner('actor-x'), await two.actorOwner('actor-x')]).toEqual([undefined, undefined])
    await Promise.all([one.bindActor('actor-x', 'alice'), two.bindActor('actor-x', 'mallory')])
    const owner = await one.actorOwner('actor-x')
    expect(['alice', 'mallory']).toContain(owner)
    // The node whose binding lost knows the real owner at once, from its own cache.
    expect(await two.actorOwner('actor-x')).toBe(owner)
    const third = await node(database.url)
    expect(await third.actorOwner('actor-x')).toBe(owner)
  })
})
