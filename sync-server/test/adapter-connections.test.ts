/**
 * The adapter counts each user's open connections as they come and go (connectionsOf: who is
 * offline for webhooks and pushes, asked for every member on every message; the per-user
 * connection limit at upgrade).
 */
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import type { WebSocket } from 'ws'
import { CloseCodes } from '../src/close-codes.ts'
import { FakeSocket, joinedAdapter } from './fake-socket.ts'

describe('connections per user', () => {
  it('counts connections as they open and close, once per connection', () => {
    const { adapter, socket: alice1 } = joinedAdapter()
    const accept = (user: string) => {
      const socket = new FakeSocket()
      adapter.accept(socket as unknown as WebSocket, { user }, pino({ level: 'silent' }))
      return socket
    }
    const alice2 = accept('alice')
    const bob = accept('bob')
    expect([adapter.connectionsOf('alice'), adapter.connectionsOf('bob'), adapter.connectionsOf('carol')]).toEqual([2, 1, 0])
    expect(adapter.connectionsOf('__proto__')).toBe(0)

    alice1.emit('close', 1000)
    alice1.emit('close', 1000)
    expect(adapter.connectionsOf('alice')).toBe(1)
    alice2.emit('close', 1001)
    expect(adapter.connectionsOf('alice')).toBe(0)

    // Closed by the server: counted out at once, and not again when the socket's close follows.
    bob.emit('message', new Uint8Array([0xff]))
    expect(bob.closes[0]?.code).toBe(CloseCodes.MALFORMED)
    expect(adapter.connectionsOf('bob')).toBe(0)
    bob.emit('close', CloseCodes.MALFORMED)
    accept('bob')
    expect(adapter.connectionsOf('bob')).toBe(1)
    adapter.disconnect()
  })
})
