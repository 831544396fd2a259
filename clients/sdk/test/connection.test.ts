import { cbor, type PeerId } from '@automerge/automerge-repo/slim'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { ParleyError } from '../src/errors.ts'
import { ServerConnection, type ConnectionStatus, type WebSocketClass } from '../src/network/connection.ts'
import { FakeSocket } from './fake-socket.ts'

const latest = () => FakeSocket.instances.at(-1)!

describe('ServerConnection reconnect policy', () => {
  let statuses: ConnectionStatus[]
  let errors: ParleyError[]
  let tokens: number

  beforeEach(() => {
    vi.useFakeTimers()
    FakeSocket.instances = []
    statuses = []
    errors = []
    tokens = 0
  })
  afterEach(() => vi.useRealTimers())

  function connect(extra: { maxAttempts?: number } = {}, ranks?: () => Map<string, number>): ServerConnection {
    const connection = new ServerConnection({
      ranks,
      url: 'ws://server.test/sync',
      token: async () => `token-${++tokens}`,
      backoff: { minMs: 250, maxMs: 30_000, random: () => 0.5, ...extra },
      stableAfterMs: 5_000,
      onStatus: status => statuses.push(status),
      onError: error => errors.push(error),
      WebSocket: FakeSocket as unknown as WebSocketClass,
    })
    connection.connect('me' as PeerId, {})
    return connection
  }

  it('joins with a fresh token and reports online once the server answers', async () => {
    const connection = connect()
    await vi.advanceTimersByTimeAsync(0)
    expect(latest().url).toBe('ws://server.test/sync?token=token-1')
    latest().open()
    expect(latest().sent[0]).toMatchObject({ type: 'join', senderId: 'me', supportedProtocolVersions: ['1'] })
    latest().acceptJoin()
    expect(connection.status).toBe('online')
    expect(statuses).toEqual(['online'])
    expect(connection.serverMetadata).toEqual({ storageId: 'store' })
    expect(connection.isReady()).toBe(true)
  })

  it('retries failed attempts with growing full-jitter delays', async () => {
    connect()
    await vi.advanceTimersByTimeAsync(0)
    latest().close(1006)
    // attempt 0: 250 + 0.5 * 250 = 375 ms; attempt 1: 250 + 0.5 * 500 = 500 ms; attempt 2: 750 ms
    for (const delay of [375, 500, 750]) {
      const before = FakeSocket.instances.length
      await vi.advanceTimersByTimeAsync(delay - 1)
      expect(FakeSocket.instances.length).toBe(before)
      await vi.advanceTimersByTimeAsync(1)
      expect(FakeSocket.instances.length).toBe(before + 1)
      latest().close(1006)
    }
    expect(tokens).toBe(4)
  })

  it('resets the backoff only after a connection has stayed up', async () => {
    connect()
    await vi.advanceTimersByTimeAsync(0)
    for (let i = 0; i < 4; i++) {
      latest().close(1006)
      await vi.runOnlyPendingTimersAsync()
    }
    // Up, but dropped before it proved stable: the next delay keeps growing (attempt 4).
    latest().open()
    latest().acceptJoin()
    await vi.advanceTimersByTimeAsync(4_999)
    latest().close(1006)
    const before = FakeSocket.instances.length
    await vi.advanceTimersByTimeAsync(250 + 0.5 * 4000 - 1)
    expect(FakeSocket.instances.length).toBe(before)
    await vi.advanceTimersByTimeAsync(1)
    expect(FakeSocket.instances.length).toBe(before + 1)
    // Up and stable: the next drop starts again from the minimum window.
    latest().open()
    latest().acceptJoin()
    await vi.advanceTimersByTimeAsync(5_000)
    latest().close(1006)
    await vi.advanceTimersByTimeAsync(375)
    expect(FakeSocket.instances.length).toBe(before + 2)
  })

  it('reports a refused token as PARLEY_ERR_UNAUTHENTICATED', async () => {
    connect()
    await vi.advanceTimersByTimeAsync(0)
    latest().close(4401)
    expect(errors.map(error => error.code)).toEqual(['PARLEY_ERR_UNAUTHENTICATED'])
    expect(statuses.at(-1)).toBe('offline')
  })

  it('reconnects at once with a fresh token when the token expires, without reporting an error', async () => {
    connect()
    await vi.advanceTimersByTimeAsync(0)
    latest().open()
    latest().acceptJoin()
    const before = FakeSocket.instances.length
    latest().close(4401, 'token expired')
    await vi.advanceTimersByTimeAsync(0)
    expect(FakeSocket.instances.length).toBe(before + 1)
    expect(latest().url).toContain(`token=token-${tokens}`)
    expect(tokens).toBe(2)
    expect(errors).toEqual([])
  })

  it('reports a refused change (4403) as PARLEY_ERR_FORBIDDEN with the server’s reason', async () => {
    connect()
    await vi.advanceTimersByTimeAsync(0)
    latest().close(4403, 'event e1 names alice as author')
    expect(errors.map(error => [error.code, error.message])).toEqual([['PARLEY_ERR_FORBIDDEN', 'the server refused a change: event e1 names alice as author']])
  })

  it('sends the catch-up after a handshake in rank order: high-priority conversations first', async () => {
    const connection = connect({}, () => new Map([['high-doc', 0], ['low-doc', 2]]))
    await vi.advanceTimersByTimeAsync(0)
    latest().open()
    latest().acceptJoin()
    for (const documentId of ['low-doc', 'normal-doc', 'high-doc']) {
      connection.send({ type: 'sync', senderId: 'me' as PeerId, targetId: 'server' as PeerId, documentId, data: new Uint8Array() } as never)
    }
    const synced = () => latest().sent.filter(message => (message as { type: string }).type === 'sync').map(message => (message as { documentId: string }).documentId)
    expect(synced()).toEqual([])
    await vi.advanceTimersByTimeAsync(0)
    expect(synced()).toEqual(['high-doc', 'normal-doc', 'low-doc'])
    // After the catch-up, messages go out as they come.
    connection.send({ type: 'sync', senderId: 'me' as PeerId, targetId: 'server' as PeerId, documentId: 'low-doc', data: new Uint8Array() } as never)
    expect(synced()).toHaveLength(4)
  })

  it('writes what the repo sends while handling a received message once that turn’s microtasks have run (the app sees a received change before its acknowledgement is written), in order; other sends at once', async () => {
    const connection = connect()
    await vi.advanceTimersByTimeAsync(0)
    latest().accept()
    const sync = (documentId: string) => connection.send({ type: 'sync', senderId: 'me' as PeerId, targetId: 'server' as PeerId, documentId, data: new Uint8Array() } as never)
    const written = () => latest().sent.flatMap(message => ((message as { type: string }).type === 'join' ? [] : [(message as { documentId?: string }).documentId ?? (message as { type: string }).type]))
    // A local change's message goes at once.
    sync('local')
    expect(written()).toEqual(['local'])
    // The repo answers a received message from a microtask; the app's subscribers run in later ones.
    const seen: string[][] = []
    connection.on('message', () => {
      void Promise.resolve().then(() => {
        sync('answer')
        queueMicrotask(() => queueMicrotask(() => seen.push(written())))
        sync('second')
      })
    })
    const frame = cbor.encode({ type: 'sync', senderId: 'server', targetId: 'me', documentId: 'doc', data: new Uint8Array() })
    latest().onmessage?.({ data: frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength) as ArrayBuffer })
    for (let i = 0; i < 3; i++) await new Promise(resolve => process.nextTick(resolve))
    expect(seen).toEqual([['local']])
    expect(written()).toEqual(['local', 'answer', 'second'])
    // That turn is over: sends go at once again.
    sync('later')
    expect(written()).toEqual(['local', 'answer', 'second', 'later'])
  })

  it("sends this peer's ephemeral messages, not the others' the repo passes on (the server relayed those to everyone)", async () => {
    const connection = connect()
    await vi.advanceTimersByTimeAsync(0)
    latest().open()
    latest().acceptJoin()
    const ephemeral = (senderId: string) => ({ type: 'ephemeral', senderId, targetId: 'server', documentId: 'doc', data: new Uint8Array([1]), count: 1, sessionId: 's' }) as never
    connection.send(ephemeral('someone-else'))
    connection.send(ephemeral('me'))
    expect((latest().sent as { type: string; senderId: string }[]).filter(message => message.type === 'ephemeral').map(message => message.senderId)).toEqual(['me'])
  })

  it('writes a heads request after what was sent before it', async () => {
    const connection = connect()
    await vi.advanceTimersByTimeAsync(0)
    latest().accept()
    connection.on('message', () => connection.send({ type: 'sync', senderId: 'me' as PeerId, targetId: 'server' as PeerId, documentId: 'answer', data: new Uint8Array() } as never))
    const frame = cbor.encode({ type: 'sync', senderId: 'server', targetId: 'me', documentId: 'doc', data: new Uint8Array() })
    latest().onmessage?.({ data: frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength) as ArrayBuffer })
    void connection.requestHeads(['doc']).catch(() => undefined)
    expect(latest().sent.map(message => (message as { type: string }).type)).toEqual(['join', 'sync', 'parley/heads-request'])
  })

  it('counts a dropped connection as closed at once, though its closing handshake never completes, and reconnects', async () => {
    const connection = connect()
    await vi.advanceTimersByTimeAsync(0)
    const stuck = latest()
    stuck.accept()
    expect(connection.status).toBe('online')
    // The network went away: the close frame never gets an answer, so no close event comes.
    stuck.close = () => void (stuck.readyState = 2)
    connection.dropConnection()
    expect(connection.status).toBe('offline')
    expect(statuses).toEqual(['online', 'offline'])
    await vi.advanceTimersByTimeAsync(30_000)
    expect(FakeSocket.instances.length).toBeGreaterThan(1)
    latest().accept()
    expect(connection.status).toBe('online')
  })

  it('is ready after a failed first attempt, so offline lookups do not hang', async () => {
    const connection = connect()
    await vi.advanceTimersByTimeAsync(0)
    expect(connection.isReady()).toBe(false)
    latest().close(1006)
    expect(connection.isReady()).toBe(true)
  })

  it('stops after maxAttempts and after disconnect()', async () => {
    const connection = connect({ maxAttempts: 2 })
    await vi.advanceTimersByTimeAsync(0)
    latest().close(1006)
    await vi.runOnlyPendingTimersAsync()
    latest().close(1006)
    await vi.runOnlyPendingTimersAsync()
    latest().close(1006)
    await vi.runAllTimersAsync()
    expect(FakeSocket.instances.length).toBe(3)
    connection.disconnect()
    await vi.runAllTimersAsync()
    expect(FakeSocket.instances.length).toBe(3)
  })
})
