/**
 * The device's outbox (local-state.ts): one storage write per send, a confirmation's
 * removal carried by the next send or written a moment later, and state written before the
 * outbox (a key each for the pending set and the clock) still read.
 */
import { MemoryStorageAdapter } from '@parley/core'
import type { StorageKey } from '@automerge/automerge-repo/slim'
import { describe, expect, it, vi } from 'vitest'
import { LocalState } from '../src/local-state.ts'

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value))

/** A memory adapter that counts the saves under ['parley', …]. */
function countingStorage(): { storage: MemoryStorageAdapter; saves: string[] } {
  const storage = new MemoryStorageAdapter()
  const saves: string[] = []
  const save = storage.save.bind(storage)
  storage.save = (key: StorageKey, data: Uint8Array) => {
    if (key[0] === 'parley') saves.push(key[1]!)
    return save(key, data)
  }
  return { storage, saves }
}

describe('the outbox', () => {
  it('costs one write per send while a conversation is in use, and keeps what a restart needs', async () => {
    vi.useFakeTimers()
    try {
      const { storage, saves } = countingStorage()
      const local = await LocalState.load(storage)
      saves.length = 0
      for (let i = 1; i <= 10; i++) {
        await local.addPending(['segment'], i)
        local.removePending('segment') // the server confirms before the next send
      }
      expect(saves).toEqual(Array(10).fill('outbox'))
      await vi.advanceTimersByTimeAsync(1000)
      expect(saves).toHaveLength(11) // the last removal, written once nothing carried it

      await local.addPending(['head'], 11)
      const again = await LocalState.load(storage)
      expect([...again.pending]).toEqual(['head'])
      expect(again.clockLast).toBe(11)
      expect(again.device).toBe(local.device)
    } finally {
      vi.useRealTimers()
    }
  })

  it('writes a waiting removal when the client closes', async () => {
    const { storage } = countingStorage()
    const local = await LocalState.load(storage)
    await local.addPending(['segment'], 5)
    local.removePending('segment')
    await local.flush()
    expect([...(await LocalState.load(storage)).pending]).toEqual([])
  })

  it('reads the pending set and clock a device wrote before the outbox', async () => {
    const storage = new MemoryStorageAdapter()
    await storage.save(['parley', 'device'], json('old-device'))
    await storage.save(['parley', 'pending'], json(['a', 'b']))
    await storage.save(['parley', 'clock'], json(42))
    const local = await LocalState.load(storage)
    expect(local.device).toBe('old-device')
    expect([...local.pending]).toEqual(['a', 'b'])
    expect(local.clockLast).toBe(42)
  })
})
