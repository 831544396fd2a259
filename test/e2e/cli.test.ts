import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { interactive, parley } from '../support/cli-process.ts'
import { ServerProcess } from '../support/server-process.ts'

describe('the parley terminal client against a real server', () => {
  let server: ServerProcess
  let home: string
  beforeAll(async () => {
    server = await ServerProcess.start()
    home = await mkdtemp(join(tmpdir(), 'parley-cli-e2e-'))
  })
  afterAll(async () => {
    await server?.stop()
    await rm(home, { recursive: true, force: true })
  })

  const as = async (user: string) => ['--server', server.url, '--token', await server.token(user), '--data', join(home, user)]

  it('sends from one user, and the other syncs and reads the history', async () => {
    const alice = await as('alice')
    const created = await parley([...alice, 'create', '--title', 'cli', '--member', 'bob'])
    expect(created.code).toBe(0)
    const id = created.stdout.trim()
    const sent = await parley([...alice, 'send', id, 'hello from the terminal'])
    expect(sent.stderr).toContain('delivered to the server')

    // Bob's first run on a fresh replica: the listing syncs his inbox before printing.
    const bob = await as('bob')
    const listed = await parley([...bob, 'conversations', '--json'])
    expect(JSON.parse(listed.stdout.trim())).toMatchObject({ id, title: 'cli', unread: 1 })
    const synced = await parley([...bob, 'sync', '--timeout', '20'])
    expect(synced.code).toBe(0)
    // Offline now: the replica answers on its own.
    const history = await parley(['--token', await server.token('bob'), '--data', join(home, 'bob'), 'history', id, '--json'])
    expect(history.stdout.trim().split('\n').map(line => JSON.parse(line))).toEqual([
      { id: expect.any(String), author: 'alice', text: 'hello from the terminal', at: expect.any(Number) },
    ])
  })

  it('chats both ways over pipes, with a typing indicator', async () => {
    const alice = await as('alice')
    const id = (await parley([...alice, 'create', '--member', 'bob'])).stdout.trim()
    await parley([...(await as('bob')), 'sync'])
    const aliceChat = interactive([...alice, 'chat', id])
    const bobChat = interactive([...(await as('bob')), 'chat', id])
    await Promise.all([aliceChat.waitFor('stderr', /\(online\)|parley: online/), bobChat.waitFor('stderr', /\(online\)|parley: online/)])

    aliceChat.child.stdin.write('hel')
    await bobChat.waitFor('stderr', /alice is typing/)
    aliceChat.child.stdin.write('lo bob\n')
    await bobChat.waitFor('stdout', /alice: hello bob/)
    bobChat.child.stdin.write('hi alice\n')
    await aliceChat.waitFor('stdout', /bob: hi alice/)

    aliceChat.child.stdin.write('/quit\n')
    bobChat.child.stdin.end()
    expect((await aliceChat.exited).code).toBe(0)
    expect((await bobChat.exited).code).toBe(0)
  })
})
