/**
 * A message numbered by a server killed (SIGKILL) before its review was done is reviewed
 * by the restarted server (moderation/moderator.ts over events/notifications.ts): the
 * numbering lists it as not done in the same write, and only a finished review takes it
 * off. The kill is aimed by the hook: the first server's hook takes the question and never
 * answers, so the message is numbered (the moderator hears of it only then) and its review
 * under way when the process dies. On LevelDB the restarted server reviews it at once; on
 * PostgreSQL after the grace period (10 s), as any node of a cluster would.
 */
import { readHead, type HeadDoc, type SegmentDoc } from '@parley/core'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { createTestDatabase } from '../src/testing.ts'
import { appendMessage, findWhenSynced, stockRepo } from './helpers.ts'
import { decisionAbout, events, startHook } from './moderation-helpers.ts'
import { startServerChild } from './server-child.ts'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
}, 60_000)

describe.each(['LevelDB', 'PostgreSQL'] as const)('moderation across a crash, on %s', { timeout: 120_000 }, backend => {
  it('a message whose review was under way when the server was killed is reviewed after the restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-moderation-crash-'))
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }))
    const database = backend === 'PostgreSQL' ? await createTestDatabase() : undefined
    if (database) cleanups.push(() => database.drop())
    const storage = database ? ['--postgres', database.url] : []
    const hanging = await startHook('hang')
    cleanups.push(() => hanging.close())
    const first = await startServerChild(dataDir, ['--moderation-hook', hanging.url, '--moderation-hook-timeout-ms', '60000', ...storage], cleanups)

    const created = await fetch(`${first.httpUrl}/v1/conversations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await first.token('alice')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ members: ['bob'] }),
    })
    expect(created.status).toBe(201)
    const conversationId = ((await created.json()) as { id: string }).id
    const alice = await stockRepo(first, 'alice')
    cleanups.push(async () => alice.close())
    const head = await findWhenSynced<HeadDoc>(alice, conversationId)
    const segment = await findWhenSynced<SegmentDoc>(alice, readHead(head.doc()).segments[0]!)
    const nasty = appendMessage(segment, 'alice', 'a nasty remark')
    // Asked: numbered, and its review waits on the hook.
    for (let waited = 0; !hanging.asked.includes(nasty.text); waited += 20) {
      if (waited > 30_000) throw new Error('the hook was never asked')
      await sleep(20)
    }
    await first.kill()
    alice.close()

    const answering = await startHook()
    cleanups.push(() => answering.close())
    const second = await startServerChild(dataDir, ['--moderation-hook', answering.url, ...storage], cleanups)
    // Stored before the kill: the restarted server has it, numbered.
    expect((await events(second, 'alice', conversationId)).map(event => event.id)).toContain(nasty.id)
    const decision = await decisionAbout(second, 'alice', conversationId, nasty.id)
    expect(decision).toMatchObject({ decision: 'rejected', reason: 'the hook says reject' })
    expect(answering.asked).toEqual([nasty.text])
  })
})
