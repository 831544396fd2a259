/**
 * automerge-repo patch, Repo: what a dropped or unloaded document leaves reachable.
 * - `@@-448` (progress-cache guard): a handle dropped while still requesting (the evictor's
 *   `handle.unavailable()` then `removeUnavailable`, in one tick) was cached again by its
 *   load's progress notification, which was still under way, and kept for ever.
 * - `@@-458` (a fresh never-settling promise per load): racing the shared module-level
 *   `foreverPromise` left a reaction on it per `find` that kept the loaded document
 *   reachable after `removeFromCache`.
 * Checked with a FinalizationRegistry and a forced garbage collection, so no heap figure or threshold is
 * involved. Real repos over in-memory links (links.ts) and Parley's in-memory storage.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Repo, type DocumentId } from '@automerge/automerge-repo'
import { MemoryStorageAdapter } from '@parley/core'
import { carriesChanges, quiet, star } from './links.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const DOCUMENTS = 20

let shutdown: (() => void) | undefined
afterEach(() => {
  shutdown?.()
  shutdown = undefined
})

/**
 * Counts the objects given to `track` that garbage collection reclaims. A FinalizationRegistry,
 * not WeakRef.deref: creating or dereferencing a WeakRef keeps its target alive for the rest
 * of the job, which would keep the last one tracked.
 */
function collector() {
  let collected = 0
  let tracked = 0
  const registry = new FinalizationRegistry(() => collected++)
  return {
    track<T extends object>(target: T): void {
      tracked++
      registry.register(target, undefined)
    },
    /** How many tracked objects are still reachable after garbage collection (a few rounds: cleanups run as tasks). */
    async reachable(): Promise<number> {
      for (let round = 0; round < 10 && collected < tracked; round++) {
        gc()
        await new Promise(resolve => setTimeout(resolve, 0))
      }
      return tracked - collected
    },
  }
}

describe('memory of dropped and unloaded documents (automerge-repo patch)', () => {
  it('lets a handle dropped while still requesting be collected', async () => {
    const net = await star(1)
    shutdown = net.shutdown
    const [link] = net.links
    const claimer = net.clients[0]!
    // The claimer's changes are lost: the server learns each document's heads, never its content.
    link!.drop = message => message.senderId === claimer.peerId && carriesChanges(message)
    const ids = Array.from({ length: DOCUMENTS }, (_, n) => claimer.create({ n }).documentId)
    await vi.waitFor(() => expect(ids.map(id => net.server.handles[id]?.state)).toEqual(ids.map(() => 'requesting')))
    await quiet(net.links)

    // What DocumentEvictor.drop does with a request nobody answered (documents/eviction.ts).
    // (In functions of their own: a suspended async function can keep its last handle in a register.)
    const handles = collector()
    const drop = (id: DocumentId): void => {
      const handle = net.server.handles[id]!
      handles.track(handle)
      handle.unavailable()
      expect(net.server.removeUnavailable(id)).toBe(true)
    }
    ids.forEach(drop)
    await quiet(net.links)

    expect(await handles.reachable()).toBe(0)
  })

  it('lets a document that was found and then unloaded be collected', async () => {
    const storage = new MemoryStorageAdapter()
    const writer = new Repo({ storage, network: [] })
    const ids = Array.from({ length: DOCUMENTS }, (_, n) => writer.create({ text: `${'x'.repeat(1000)}${n}` }).documentId)
    await writer.flush()
    writer.shutdown()

    const repo = new Repo({ storage, network: [] })
    shutdown = () => repo.shutdown()
    const docs = collector()
    const findAndUnload = async (id: DocumentId): Promise<void> => {
      const handle = await repo.find(id)
      docs.track(handle.doc())
      await repo.removeFromCache(id)
    }
    for (const id of ids) await findAndUnload(id)

    expect(await docs.reachable()).toBe(0)
  })
})
