/**
 * automerge-repo patch, StorageSubsystem `@@-141` (yield after a long load): once loading a
 * document from storage took more than 10 ms, `loadDoc` lets timers and I/O run before the
 * handle's update and the answers to waiting peers, which block as long again. Used by
 * clients (large segments from LevelDB / IndexedDB) and by the server with --no-relay-core.
 * The load's duration comes from a fake `performance.now` (each reading 20 ms after the
 * last), so the test does not depend on how fast this machine decodes a document.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Repo } from '@automerge/automerge-repo'
import { MemoryStorageAdapter } from '@parley/core'

afterEach(() => {
  vi.restoreAllMocks()
})

describe('yield after a long load (automerge-repo patch)', () => {
  it('runs a timer started before a slow load ahead of the load resolving', async () => {
    const storage = new MemoryStorageAdapter()
    const writer = new Repo({ storage, network: [] })
    const { documentId } = writer.create({ text: 'a document that takes long to load' })
    await writer.flush()
    writer.shutdown()
    const repo = new Repo({ storage, network: [] })

    let clock = performance.now()
    vi.spyOn(performance, 'now').mockImplementation(() => (clock += 20))
    const order: string[] = []
    setTimeout(() => order.push('timer'), 0)
    const handle = await repo.find<{ text: string }>(documentId)
    order.push('loaded')
    vi.restoreAllMocks()

    expect(handle.doc().text).toBe('a document that takes long to load')
    expect(order).toEqual(['timer', 'loaded'])
    repo.shutdown()
  })
})
