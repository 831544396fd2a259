/**
 * A sync connection is closed with 4401 at its token's exp, also when that is further
 * ahead than one setTimeout reaches (2^31 - 1 ms, ~24.8 days): it was closed early, at
 * the cap, with "token expired".
 */
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { WebSocket } from 'ws'
import { ParleyServerAdapter } from '../src/network/server-adapter.ts'
import { FakeSocket } from './fake-socket.ts'

const DAY = 24 * 60 * 60 * 1000

describe('sync connection token expiry', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  function accept(expiresAt: number): FakeSocket {
    const adapter = new ParleyServerAdapter({
      maxFrameBytes: 1 << 20,
      keepAliveMs: 60 * DAY,
      rate: { perSecond: 100, burst: 100 },
      maxBufferedBytes: 1 << 20,
      inspect: async message => ({ ok: true, message }),
      mayReceive: () => true,
      headsOf: async () => ({}),
    })
    const socket = new FakeSocket()
    adapter.accept(socket as unknown as WebSocket, { user: 'alice', expiresAt }, pino({ level: 'silent' }))
    return socket
  }

  it('stays open past 24.8 days when the token lives 30, and closes with 4401 at exp', () => {
    const socket = accept(30 * DAY)
    vi.advanceTimersByTime(2 ** 31 + 1000)
    expect(socket.closes).toEqual([])
    vi.advanceTimersByTime(30 * DAY - (2 ** 31 + 1000) - 1)
    expect(socket.closes).toEqual([])
    vi.advanceTimersByTime(1)
    expect(socket.closes).toEqual([{ code: 4401, reason: 'token expired' }])
  })

  it('closes at once for a token already expired, and at exp for a short one', () => {
    const expired = accept(-5)
    vi.advanceTimersByTime(0)
    expect(expired.closes).toEqual([{ code: 4401, reason: 'token expired' }])
    const short = accept(1000)
    vi.advanceTimersByTime(999)
    expect(short.closes).toEqual([])
    vi.advanceTimersByTime(1)
    expect(short.closes).toEqual([{ code: 4401, reason: 'token expired' }])
  })
})
