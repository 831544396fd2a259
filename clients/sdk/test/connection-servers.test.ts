/** Several server URLs (the nodes of a cluster): the connection moves on when one fails, with backoff. */
import type { PeerId } from '@automerge/automerge-repo/slim'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ServerConnection, type WebSocketClass } from '../src/network/connection.ts'
import { resolveOptions } from '../src/options.ts'
import { FakeSocket } from './fake-socket.ts'

const hostOf = (socket: FakeSocket | undefined) => socket && new URL(socket.url).host

describe('a connection given several servers', () => {
  beforeEach(() => {
    vi.useFakeTimers()
    FakeSocket.instances = []
  })
  afterEach(() => vi.useRealTimers())

  function connect(): ServerConnection {
    const connection = new ServerConnection({
      url: ['ws://one.test/sync', 'ws://two.test/sync', 'ws://three.test/sync'],
      token: async () => 'token',
      backoff: { minMs: 250, maxMs: 30_000, random: () => 0.5 },
      WebSocket: FakeSocket as unknown as WebSocketClass,
    })
    connection.connect('me' as PeerId, {})
    return connection
  }

  it('tries the next server after a failed attempt, waiting the backoff delay first', async () => {
    const connection = connect()
    await vi.advanceTimersByTimeAsync(0)
    expect(hostOf(FakeSocket.instances.at(-1))).toBe('one.test')
    FakeSocket.instances.at(-1)!.close(1006)
    await vi.advanceTimersByTimeAsync(374)
    expect(FakeSocket.instances).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(hostOf(FakeSocket.instances.at(-1))).toBe('two.test')
    expect(connection.url).toBe('ws://two.test/sync')
    FakeSocket.instances.at(-1)!.accept()
    expect(connection.status).toBe('online')
  })

  it('stays on a server that works, moves on when its connection drops, and comes round again', async () => {
    connect()
    await vi.advanceTimersByTimeAsync(0)
    FakeSocket.instances.at(-1)!.accept()
    const visited: (string | undefined)[] = [hostOf(FakeSocket.instances.at(-1))]
    for (let i = 0; i < 3; i++) {
      FakeSocket.instances.at(-1)!.close(1006) // the node died
      await vi.runOnlyPendingTimersAsync()
      visited.push(hostOf(FakeSocket.instances.at(-1)))
    }
    expect(visited).toEqual(['one.test', 'two.test', 'three.test', 'one.test'])
  })

  it('reconnects to the same server at once when only the token expired', async () => {
    connect()
    await vi.advanceTimersByTimeAsync(0)
    FakeSocket.instances.at(-1)!.accept()
    FakeSocket.instances.at(-1)!.close(4401, 'token expired')
    await vi.advanceTimersByTimeAsync(0)
    expect(FakeSocket.instances.map(hostOf)).toEqual(['one.test', 'one.test'])
  })
})

describe('the server option', () => {
  it('takes one URL or several, each normalised to its sync endpoint', () => {
    expect(resolveOptions({ token: 't', server: 'ws://a.test' })).toMatchObject({ server: 'ws://a.test/sync', servers: ['ws://a.test/sync'] })
    expect(resolveOptions({ token: 't', server: ['ws://a.test', 'https://b.test/sync'] }).servers).toEqual(['ws://a.test/sync', 'wss://b.test/sync'])
    expect(resolveOptions({ token: 't' }).servers).toEqual([])
  })

  it('refuses an empty list', () => {
    expect(() => resolveOptions({ token: 't', server: [] })).toThrow(expect.objectContaining({ code: 'PARLEY_ERR_INVALID_OPTION' }))
  })
})
