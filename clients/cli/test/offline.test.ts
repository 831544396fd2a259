import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parley } from '../../../test/support/cli-process.ts'
import { testToken } from '../../sdk/test/helpers.ts'

const TOKEN = testToken('alice')

describe('parley without a server', () => {
  let data: string
  beforeAll(async () => (data = await mkdtemp(join(tmpdir(), 'parley-cli-'))))
  afterAll(() => rm(data, { recursive: true, force: true }))

  it('creates, sends and shows history across separate runs on one replica', async () => {
    const env = { PARLEY_TOKEN: TOKEN, PARLEY_DATA: data }
    const created = await parley(['create', '--title', 'notes', '--member', 'bob'], env)
    expect(created.code).toBe(0)
    const id = created.stdout.trim()
    expect(id).toMatch(/^[1-9A-HJ-NP-Za-km-z]{20,}$/)

    for (const text of ['first', 'second', 'third']) {
      const sent = await parley(['send', id, text], env)
      expect(sent.code).toBe(0)
      expect(sent.stderr).toContain('saved on this device')
    }

    const json = await parley(['history', id, '--json'], env)
    const lines = json.stdout.trim().split('\n').map(line => JSON.parse(line))
    expect(lines.map(line => line.text)).toEqual(['first', 'second', 'third'])
    expect(lines[0]).toEqual({ id: expect.any(String), author: 'alice', text: 'first', at: expect.any(Number) })

    const limited = await parley(['history', id, '--limit', '2'], env)
    expect(limited.stdout.trim().split('\n')).toEqual([expect.stringMatching(/alice: second$/), expect.stringMatching(/alice: third$/)])

    const listed = await parley(['conversations', '--json'], env)
    expect(JSON.parse(listed.stdout.trim())).toMatchObject({ id, title: 'notes', kind: 'group', members: ['alice', 'bob'] })
  })

  it('exits 2 on usage errors and without a token, 1 for an unknown conversation', async () => {
    expect((await parley(['send'], { PARLEY_TOKEN: TOKEN, PARLEY_DATA: data })).code).toBe(2)
    const tokenless = await parley(['conversations', '--data', data], { PARLEY_TOKEN: '' })
    expect(tokenless.code).toBe(2)
    expect(tokenless.stderr).toContain('PARLEY_ERR_INVALID_OPTION')
    const unknown = await parley(['history', '4NMNnkcfzdkNjwYeofG2ZYQYBaFd'], { PARLEY_TOKEN: TOKEN, PARLEY_DATA: data })
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('PARLEY_ERR_CONVERSATION_NOT_FOUND')
  })
})
