/**
 * `parley search` as a process on a LevelDB replica, across runs: found newest first, with
 * match offsets in --json; edits and deletes followed; filters; bad flags exit 2.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '@parley/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parley } from '../../../test/support/cli-process.ts'
import { testToken } from '../../sdk/test/helpers.ts'

const TOKEN = testToken('alice')

describe('parley search', () => {
  let data: string
  let env: Record<string, string>
  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), 'parley-cli-search-'))
    env = { PARLEY_TOKEN: TOKEN, PARLEY_DATA: data }
  })
  afterAll(() => rm(data, { recursive: true, force: true }))

  it('finds messages stored by earlier runs, newest first, with filters and highlight offsets', async () => {
    const trip = (await parley(['create', '--title', 'trip'], env)).stdout.trim()
    const work = (await parley(['create', '--title', 'work'], env)).stdout.trim()
    expect((await parley(['send', trip, 'Train tickets booked for Friday'], env)).code).toBe(0)
    expect((await parley(['send', work, 'Friday standup moved'], env)).code).toBe(0)

    const all = await parley(['search', 'friday', '--json'], env)
    expect(all.code).toBe(0)
    const lines = all.stdout.trim().split('\n').map(line => JSON.parse(line))
    expect(lines.map(line => [line.conversation, line.text])).toEqual([
      [work, 'Friday standup moved'],
      [trip, 'Train tickets booked for Friday'],
    ])
    expect(lines[1]).toEqual({ conversation: trip, id: expect.any(String), author: 'alice', at: expect.any(Number), text: 'Train tickets booked for Friday', matches: [[25, 31]] })

    const text = await parley(['search', 'tickets'], env)
    expect(text.stdout.trim()).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d\] trip · alice: Train tickets booked for Friday$/)

    const inWork = await parley(['search', 'friday', '--conversation', work, '--json'], env)
    expect(inWork.stdout.trim().split('\n').map(line => JSON.parse(line).text)).toEqual(['Friday standup moved'])
    const before = await parley(['search', 'friday', '--before', String(lines[0].at), '--json'], env)
    expect(before.stdout.trim().split('\n').map(line => JSON.parse(line).text)).toEqual(['Train tickets booked for Friday'])
    const later = await parley(['search', 'friday', '--after', '2999-01-01'], env)
    expect(later.stdout).toBe('')
    expect(later.stderr).toContain('no messages on this device match')
    expect((await parley(['search', 'friday', '--author', 'bob', '--json'], env)).stdout).toBe('')
  })

  it('follows edits and deletes made by the library on the same replica', async () => {
    const client = await createClient({ token: TOKEN, storage: { kind: 'level', dir: data } })
    const conversation = await client.createConversation({ title: 'notes' })
    const edited = await conversation.send('dentist on Tuesday')
    const deleted = await conversation.send('dentist code 4471')
    await conversation.edit(edited, 'dentist on Wednesday')
    await conversation.delete(deleted)
    await client.close()

    const found = await parley(['search', 'dentist', '--json'], env)
    expect(found.stdout.trim().split('\n').map(line => JSON.parse(line).text)).toEqual(['dentist on Wednesday'])
    expect((await parley(['search', 'tuesday'], env)).stdout).toBe('')
  })

  it('exits 2 on a bad time, limit or missing query', async () => {
    const badTime = await parley(['search', 'x', '--before', 'next week'], env)
    expect(badTime.code).toBe(2)
    expect(badTime.stderr).toContain('--before must be an ISO date/time')
    expect((await parley(['search', 'x', '--limit', '5000'], env)).code).toBe(2)
    expect((await parley(['search'], env)).code).toBe(2)
  })
})
