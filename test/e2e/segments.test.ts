/**
 * Cost of append and of opening the newest page must not grow with history. The numbers
 * are printed (timing goals live in benchmarks/); the assertions check the mechanism
 * that keeps them flat: opening touches only the newest segments.
 */
import { createClient } from '@parley/client'
import { buildReplica } from '@parley/benchmarks/replica'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { testToken } from '../../clients/sdk/test/helpers.ts'

const SEGMENT = 1000
const dirs: string[] = []
afterAll(async () => Promise.all(dirs.map(dir => rm(dir, { recursive: true, force: true }))))

async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-segments-'))
  dirs.push(dir)
  return dir
}

async function measure(count: number) {
  const dir = await freshDir()
  const id = await buildReplica(dir, count, SEGMENT)
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
