/**
 * The automerge-repo patch's opt-in `parleySkipRepeatedSync` (README "No 100 ms throttle";
 * DocSynchronizer `#isRepeat`), which the client sets: a change that arrives by sync is
 * answered once, by the reply to its message, and the change event's round does not
 * generate a second message for that peer from the state the reply left (automerge returns
 * none then). Two repos over an in-memory pair of network adapters.
 */
import '@parley/core' // loads Automerge's WASM, which the slim entry does not
import { NetworkAdapter, Repo, type Message, type PeerId, type PeerMetadata } from '@automerge/automerge-repo/slim'
import { describe, expect, it, vi } from 'vitest'

/** One end of an in-memory connection; messages cross on the next macrotask, as over a socket. */
class PairAdapter extends NetworkAdapter {
  other: PairAdapter | undefined
  #ready = false
  isReady(): boolean {
    return this.#ready
  }
  whenReady(): Promise<void> {
    return Promise.resolve()
  }
  connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
    this.peerId = peerId
    this.peerMetadata = peerMetadata
    this.#ready = true
    const other = this.other!
    if (other.peerId) {
      other.emit('peer-candidate', { peerId, peerMetadata: peerMetadata ?? {} })
      this.emit('peer-candidate', { peerId: other.peerId, peerMetadata: other.peerMetadata ?? {} })
    }
  }
  send(message: Message): void {
    setImmediate(() => this.other!.emit('message', message))
  }
  disconnect(): void {}
}

async function pair(skip: boolean): Promise<{ writer: Repo; reader: Repo; generated: () => number }> {
  const a = new PairAdapter()
  const b = new PairAdapter()
  a.other = b
  b.other = a
  const writer = new Repo({ network: [a], peerId: 'writer' as PeerId, sharePolicy: async () => true })
  const reader = new Repo({ network: [b], peerId: 'reader' as PeerId, sharePolicy: async () => true, parleySkipRepeatedSync: skip })
  let count = 0
  reader.on('doc-metrics', event => {
    if (event.type === 'generate-sync-message') count++
  })
  await vi.waitFor(() => expect(reader.peers).toEqual(['writer']))
  return { writer, reader, generated: () => count }
}

/** Generates on the reader for one change the writer makes, once both sides are in sync. */
async function generatesPerChange(skip: boolean): Promise<{ generated: number; text: string | undefined }> {
  const { writer, reader, generated } = await pair(skip)
  const written = writer.create<{ text?: string }>()
  written.change(doc => (doc.text = 'first'))
  const read = await reader.find<{ text?: string }>(written.documentId)
  await vi.waitFor(() => expect(read.doc().text).toBe('first'))
  await new Promise(resolve => setTimeout(resolve, 50)) // every answer of the first round has crossed
  const before = generated()
  written.change(doc => (doc.text = 'second'))
  await vi.waitFor(() => expect(read.doc().text).toBe('second'))
  await new Promise(resolve => setTimeout(resolve, 50))
  const result = { generated: generated() - before, text: read.doc().text }
  writer.shutdown()
  reader.shutdown()
  return result
}

describe('parleySkipRepeatedSync (automerge-repo patch)', () => {
  it('answers a change that arrives by sync with one generated message, not two', async () => {
    expect(await generatesPerChange(true)).toEqual({ generated: 1, text: 'second' })
  })

  it('is off unless asked for: the stock repo generates twice per received change', async () => {
    expect((await generatesPerChange(false)).generated).toBe(2)
  })
})
