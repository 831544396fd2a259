/** The device's blob store (src/attachments/local-blobs.ts): bounded in bytes, least recently used out first, files not yet uploaded never. */
import { MemoryStorageAdapter } from '@parley/core'
import { describe, expect, it } from 'vitest'
import { LocalBlobs } from '../src/attachments/local-blobs.ts'

const bytes = (size: number, fill: number) => new Uint8Array(size).fill(fill)

describe('LocalBlobs', () => {
  it('drops the least recently used cached blobs past its bound, never a pinned one, and remembers across a reopen', async () => {
    const storage = new MemoryStorageAdapter()
    const blobs = await LocalBlobs.open(storage, 100)
    await blobs.put('pinned', bytes(60, 1), true)
    await blobs.put('a', bytes(30, 2), false)
    expect(await blobs.get('a')).toEqual(bytes(30, 2))
    await blobs.put('b', bytes(30, 3), false)
    // 120 bytes: the least recently used unpinned blob (a) goes.
    expect(blobs.has('a')).toBe(false)
    expect(blobs.has('pinned')).toBe(true)
    expect(await storage.load(['parley', 'blob', 'a'])).toBeUndefined()
    expect(blobs.bytes).toBe(90)

    // Unpinned (uploaded), it is a cache entry like any other, and older than b.
    await blobs.unpin('pinned')
    await blobs.put('c', bytes(30, 4), false)
    expect(blobs.has('pinned')).toBe(false)
    expect(blobs.bytes).toBe(60)

    await blobs.flush()
    const reopened = await LocalBlobs.open(storage, 100)
    expect(reopened.has('b') && reopened.has('c')).toBe(true)
    expect(await reopened.get('c')).toEqual(bytes(30, 4))
  })

  it('keeps pinned blobs past the bound: a file is not lost before the server has it', async () => {
    const blobs = await LocalBlobs.open(new MemoryStorageAdapter(), 10)
    await blobs.put('big', bytes(50, 1), true)
    expect(await blobs.get('big')).toEqual(bytes(50, 1))
    await blobs.put('fetched', bytes(5, 2), false)
    expect(blobs.has('fetched')).toBe(false)
  })
})

describe('maxFileCacheBytes', () => {
  it('bounds the client’s file cache, and refuses what is not a positive integer', async () => {
    const { createClient } = await import('../src/index.ts')
    const { testToken } = await import('./helpers.ts')
    const client = await createClient({ token: testToken('alice'), maxFileCacheBytes: 1234 })
    expect(client.attachments.blobs.maxBytes).toBe(1234)
    await client.close()
    await expect(createClient({ token: testToken('alice'), maxFileCacheBytes: 0 })).rejects.toMatchObject({ code: 'PARLEY_ERR_INVALID_OPTION' })
  })
})
