/**
 * Cost of append and of opening the newest page must not grow with history. The numbers
 * are printed (timing goals live in benchmarks/); the assertions check the mechanism
 * that keeps them flat: opening touches only the newest segments.
 */
import { Repo, type DocumentId } from '@automerge/automerge-repo'
import { createClient } from '@parley/client'
import { addSegment, appendEvent, closableStorage, initHead, initSegment, LevelStorageAdapter, randomId, type HeadDoc, type LevelDatabase, type SegmentDoc } from '@parley/core'
import { Level } from 'level'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { testToken } from '../../clients/sdk/test/helpers.ts'

const SEGMENT = 1000
const dirs: string[] = []
afterAll(async () => Promise.all(dirs.map(dir => rm(dir, { recursive: true, force: true }))))

/** Writes a conversation of `count` messages straight into a replica, one change per segment. */
async function buildReplica(count: number): Promise<{ dir: string; id: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-segments-'))
  dirs.push(dir)
  const db = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
  const storage = closableStorage(new LevelStorageAdapter(db as unknown as LevelDatabase), () => db.close())
  const repo = new Repo({ storage: storage.adapter })
  const head = repo.create<HeadDoc>()
  let at = 1_700_000_000_000
  for (let start = 0; start < count; start += SEGMENT) {
    const segment = repo.create<SegmentDoc>()
    segment.change(doc => {
      initSegment(doc, head.documentId)
      for (let i = start; i < Math.min(count, start + SEGMENT); i++) {
        appendEvent(doc, { id: randomId(), type: 'message', author: 'alice', device: 'builder', at: at++, text: `message ${i} ${'x'.repeat(80)}` })
      }
    })
    if (start === 0) head.change(doc => initHead(doc, { kind: 'group', title: 'history', creator: 'alice', members: [], at, firstSegment: segment.documentId }))
    else head.change(doc => addSegment(doc, segment.documentId))
  }
  await repo.flush()
  await storage.close()
  return { dir, id: head.documentId }
}

async function measure(count: number) {
  const { dir, id } = await buildReplica(count)
  const client = await createClient({ token: testToken('alice'), storage: { kind: 'level', dir } })
  const openStart = performance.now()
  const conversation = await client.conversation(id)
  const newest = conversation.timeline().slice(-50)
  const openMs = performance.now() - openStart
  const appendTimes: number[] = []
  for (let i = 0; i < 50; i++) {
    const start = performance.now()
    await conversation.send(`appended ${i}`)
    appendTimes.push(performance.now() - start)
  }
  appendTimes.sort((a, b) => a - b)
  const loaded = conversation.timeline().length
  await client.close()
  return { count, openMs, appendMedianMs: appendTimes[25]!, loaded, newest }
}

describe('a conversation with 20,000 messages', () => {
  it('opens its newest page and appends by touching only the newest segments', async () => {
    const small = await measure(100)
    const large = await measure(20_000)
    console.log(
      [
        'messages | open newest page (ms) | append median (ms) | messages loaded',
        `${small.count} | ${small.openMs.toFixed(1)} | ${small.appendMedianMs.toFixed(2)} | ${small.loaded}`,
        `${large.count} | ${large.openMs.toFixed(1)} | ${large.appendMedianMs.toFixed(2)} | ${large.loaded}`,
      ].join('\n'),
    )
    expect(small.newest.at(-1)!.text).toMatch(/^message 99 /)
    expect(large.newest.at(-1)!.text).toMatch(/^message 19999 /)
    // Opening loaded the newest segment only, not 20 of them.
    expect(large.loaded).toBe(SEGMENT + 50)
    expect(small.loaded).toBe(100 + 50)
  })
})
