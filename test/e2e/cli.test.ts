import { cbor } from '@automerge/automerge-repo'
import { freePort } from '@parley/benchmarks/processes'
import { SignJWT } from 'jose'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocketServer } from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { interactive, parley } from '../support/cli-process.ts'
import { ServerProcess } from '../support/server-process.ts'

const sign = (secret: string, user: string, exp: number) =>
  new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setExpirationTime(exp).sign(new TextEncoder().encode(secret))

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
    aliceChat.child.stdin.write('one more\n')
    await bobChat.waitFor('stdout', /alice: one more/)

    aliceChat.child.stdin.write('/quit\n')
    bobChat.child.stdin.end()
    expect((await aliceChat.exited).code).toBe(0)
    const bobRun = await bobChat.exited
    expect(bobRun.code).toBe(0)
    // A typing pause adds no line of its own (it used to print "… nobody is typing" each time).
    expect(bobRun.stderr).not.toContain('nobody is typing')

    // What the chat showed is read: Bob's list has nothing unread (it said "2 unread").
    const listed = await parley([...(await as('bob')), 'conversations', '--json'])
    const row = listed.stdout
      .trim()
      .split('\n')
      .map(line => JSON.parse(line) as { id: string; unread: number })
      .find(entry => entry.id === id)
    expect(row).toMatchObject({ id, unread: 0 })
  })

})

describe('parley chat while the server goes away and comes back', () => {
  it('says offline once (with why) and online once, not a line pair per reconnect attempt', async () => {
    const server = await ServerProcess.start()
    const home = await mkdtemp(join(tmpdir(), 'parley-cli-chat-down-'))
    try {
      const alice = ['--server', server.url, '--token', await server.token('alice'), '--data', join(home, 'alice')]
      const id = (await parley([...alice, 'create', '--member', 'bob'])).stdout.trim()
      const chat = interactive([...alice, 'chat', id])
      await chat.waitFor('stderr', /parley: online/)
      await server.kill('SIGKILL')
      await chat.waitFor('stderr', /parley: offline: the connection to the server was lost; reconnecting/)
      // Down for as long as a restart takes: several reconnect attempts (each used to print "connecting" and "offline").
      await server.restart()
      await chat.waitFor('stderr', /parley: online[^]*parley: online/)
      chat.child.stdin.write('back\n')
      await chat.waitFor('stdout', /alice: back/)
      chat.child.stdin.end()
      const run = await chat.exited
      expect(run.code).toBe(0)
      // The chat may open before or after the first connection is up: a leading "connecting…" is optional.
      const statuses = run.stderr
        .split('\n')
        .filter(line => /^parley: (online|offline|connecting)/.test(line))
        .map(line => line.split(':').slice(0, 2).join(':'))
      expect(statuses.filter((status, index) => index > 0 || status !== 'parley: connecting…')).toEqual(['parley: online', 'parley: offline', 'parley: online'])
    } finally {
      await server.stop()
      await rm(home, { recursive: true, force: true })
    }
  })
})

describe('parley says what went wrong with the server, its URL or the token', () => {
  let server: ServerProcess
  let home: string
  let id: string
  let notSyncing: Server
  let notSyncingUrl: string
  beforeAll(async () => {
    server = await ServerProcess.start()
    home = await mkdtemp(join(tmpdir(), 'parley-cli-errors-'))
    const created = await parley(['--server', server.url, '--token', await server.token('alice'), '--data', join(home, 'alice'), 'create', '--member', 'bob'])
    id = created.stdout.trim()
    // A server that completes the handshake and then never answers: reached, never in sync.
    notSyncing = createServer()
    const wss = new WebSocketServer({ server: notSyncing })
    wss.on('connection', socket =>
      socket.on('message', data => {
        const message = cbor.decode(data as Uint8Array) as { type?: string; senderId?: string }
        if (message.type === 'join') socket.send(cbor.encode({ type: 'peer', senderId: 'silent-server', targetId: message.senderId, peerMetadata: {}, selectedProtocolVersion: '1' }))
      }),
    )
    await new Promise<void>(resolve => notSyncing.listen(0, '127.0.0.1', resolve))
    notSyncingUrl = `ws://127.0.0.1:${(notSyncing.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    await server?.stop()
    notSyncing?.closeAllConnections()
    await new Promise(resolve => notSyncing?.close(resolve))
    await rm(home, { recursive: true, force: true })
  })

  const syncWith = async (serverUrl: string, token: string, user = 'alice') => parley(['--server', serverUrl, '--token', token, '--data', join(home, `${user}-${Math.random()}`), 'sync', '--timeout', '1'])

  it('a closed port (wrong port, or the server is down): cannot reach it (ECONNREFUSED)', async () => {
    const run = await syncWith(`ws://127.0.0.1:${await freePort()}`, await server.token('alice'))
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^parley: PARLEY_ERR_UNREACHABLE: cannot reach the server at ws:\/\/127\.0\.0\.1:\d+\/sync \(ECONNREFUSED\); still so after 1 s of retrying\n$/)
  })

  it('an unknown host: cannot reach it, naming the lookup failure', async () => {
    const run = await syncWith('ws://no-such-host.invalid:8787', await server.token('alice'))
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^parley: PARLEY_ERR_UNREACHABLE: cannot reach the server at ws:\/\/no-such-host\.invalid:8787\/sync \((ENOTFOUND|EAI_AGAIN)\)/)
  })

  it('a wrong path: not a Parley sync endpoint, with the server’s answer', async () => {
    const run = await syncWith(`${server.url}/wrong`, await server.token('alice'))
    expect(run.code).toBe(1)
    expect(run.stderr).toBe(
      `parley: PARLEY_ERR_NOT_SYNC_SERVER: ${server.url}/wrong/sync is not a Parley sync endpoint (HTTP 404: WebSocket sync lives at /sync); the URL should be ws(s)://HOST:PORT or end in /sync\n`,
    )
  })

  it('an expired token and a token signed with another secret: refused, with the server’s reason', async () => {
    const expired = await syncWith(server.url, await sign(server.secret, 'alice', Math.floor(Date.now() / 1000) - 60))
    expect(expired.code).toBe(1)
    expect(expired.stderr).toBe(`parley: PARLEY_ERR_UNAUTHENTICATED: the server at ${server.url}/sync refused the token: invalid token: "exp" claim timestamp check failed\n`)
    const forged = await syncWith(server.url, await sign('another-secret-of-enough-length', 'alice', Math.floor(Date.now() / 1000) + 3600))
    expect(forged.code).toBe(1)
    expect(forged.stderr).toBe(`parley: PARLEY_ERR_UNAUTHENTICATED: the server at ${server.url}/sync refused the token: invalid token: signature verification failed\n`)
  })

  it('a server that answers but never gets in sync: reached, but not in sync within the timeout', async () => {
    const run = await syncWith(notSyncingUrl, await server.token('alice'))
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(new RegExp(`^parley: PARLEY_ERR_SYNC_TIMEOUT: reached ${notSyncingUrl}, but not in sync within 1 s \\(`))
    // Which document the server has not acknowledged, and what is known of it here.
    expect(run.stderr).toMatch(/documents still differ from the server: \w+ \(/)
  })

  it('every command reports a refused token at once; send and create keep what they wrote on this device', async () => {
    const forged = await sign('another-secret-of-enough-length', 'alice', Math.floor(Date.now() / 1000) + 3600)
    const refusal = `parley: PARLEY_ERR_UNAUTHENTICATED: the server at ${server.url}/sync refused the token: invalid token: signature verification failed`
    const data = join(home, 'alice')
    const flags = ['--server', server.url, '--token', forged, '--data', data]
    for (const args of [['conversations'], ['history', id], ['chat', id]]) {
      const run = await parley([...flags, ...args])
      expect([args[0], run.code, run.stderr.trim().split('\n').at(-1)]).toEqual([args[0], 1, refusal])
    }
    const sent = await parley([...flags, 'send', id, 'kept here'])
    expect(sent.code).toBe(1)
    expect(sent.stderr).toBe(`parley: saved on this device; it goes out once the server accepts this token and URL\n${refusal}\n`)
    const created = await parley([...flags, 'create', '--title', 'later'])
    expect(created.code).toBe(1)
    expect(created.stdout.trim()).toMatch(/^[1-9A-HJ-NP-Za-km-z]{20,}$/)
    expect(created.stderr.trim().split('\n').at(-1)).toBe(refusal)
  })

  it('takes several servers, as the library does, and syncs through the one that answers', async () => {
    const dead = `ws://127.0.0.1:${await freePort()}`
    const run = await parley(['--server', dead, '--server', server.url, '--token', await server.token('alice'), '--data', join(home, 'alice'), 'sync', '--timeout', '30'])
    expect(run.stderr).toMatch(new RegExp(`^parley: in sync with ${dead}, ${server.url} \\(\\d+ conversations?\\)\n$`))
    expect(run.code).toBe(0)
  })
})
