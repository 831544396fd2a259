/**
 * A change is published on the bus as soon as it is accepted, before it is stored
 * (relay/bus-outbox.ts). These tests hold writes back to open that window and check what
 * closes it: the publisher publishes again after a slow write; a node whose reload may
 * have come too early reloads once more SETTLE_MS later; and a node stores what it heard
 * but storage lacks before a new peer takes its heads for an acknowledgement (or once
 * many wait).
 */
import { next as A } from '@automerge/automerge'
import { appendEvent, initSegment, MemoryStorageAdapter, type SegmentDoc } from '@parley/core'
import { describe, expect, it, vi } from 'vitest'
import type { SegmentBus, SegmentBusHandlers } from '../../src/relay/bus.ts'
import { LogStorage } from '../../src/relay/log-storage.ts'
import { ALICE, BOB, changesSentTo, heldWrites, hubHarness, newId, sync } from './hub-harness.ts'

const SETTLE_MS = 40

/** A bus that records what is published and hands the test the hub's handlers. */
function recordingBus() {
  const bus = { handlers: undefined as SegmentBusHandlers | undefined, published: [] as string[][] }
  const port: SegmentBus = {
    attach: given => void (bus.handlers = given),
    join: () => {},
    leave: () => {},
    hears: () => true,
    publish: (_conversation, _segment, changes) => void bus.published.push(changes.map(bytes => A.decodeChange(bytes).hash)),
  }
  return { bus, port }
}

const hashes = (changes: Uint8Array[]) => changes.map(bytes => A.decodeChange(bytes).hash)
const request = (segmentId: ReturnType<typeof newId>) => sync(segmentId, BOB, A.encodeSyncMessage({ heads: [], need: [], have: [{ lastSync: [], bloom: new Uint8Array() }], changes: [] }), 'request')
const message = (doc: A.Doc<SegmentDoc>, id: string) => A.change(doc, d => appendEvent(d, { id, type: 'message', author: 'alice', device: 'a', at: 1, text: id }))

describe('RelayHub: changes published before they are stored', () => {
  const { setup, otherNode } = hubHarness()

  it('publishes an accepted change at once, and again when its write took SETTLE_MS or longer', async () => {
    const held = heldWrites()
    const { bus, port } = recordingBus()
    const { hub, conversation } = await setup({ storage: held.storage, bus: port, settleMs: SETTLE_MS })
    const segmentId = newId()
    const alice = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
    const created = A.getAllChanges(alice)
    await hub.relay(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes: created })), 'alice', ALICE)
    // Relayed while its write is out: on the bus already.
    await vi.waitFor(() => expect(held.writes).toHaveLength(1))
    expect(bus.published).toEqual([hashes(created)])
    await new Promise(resolve => setTimeout(resolve, SETTLE_MS))
    held.writes[0]!.release()
    await vi.waitFor(() => expect(bus.published).toEqual([hashes(created), hashes(created)]))
  })

  it('publishes a change whose write settles within SETTLE_MS once', async () => {
    const { bus, port } = recordingBus()
    // A minute: however slow the machine, this write settles in time.
    const { hub, conversation } = await setup({ bus: port, settleMs: 60_000 })
    const segmentId = newId()
    const alice = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
    const created = A.getAllChanges(alice)
    expect(await hub.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes: created })), 'alice', ALICE)).toBeUndefined()
    // Closing waits for every published change's write and numbering to settle (bus-outbox.ts idle).
    await hub.close()
    expect(bus.published).toEqual([hashes(created)])
  })

  /**
   * This hub and another node on one storage; the other node has the segment created
   * (stored), and `open` has Bob sync it here then or later. `sendInFlight` has alice send
   * a message through the other node whose write is held until `release`.
   */
  async function twoNodes() {
    const held = heldWrites()
    held.hold = false
    const { bus, port } = recordingBus()
    const { hub, registry, sent, conversation } = await setup({ storage: held.storage, bus: port, settleMs: SETTLE_MS })
    const other = otherNode(held.storage, registry)
    const segmentId = newId()
    const alice = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
    expect(await other.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes: A.getAllChanges(alice) })), 'alice', ALICE)).toBeUndefined()
    const open = async () => expect(await hub.receive(request(segmentId), 'bob', BOB)).toBeUndefined()
    const sendInFlight = async (id: string) => {
      held.hold = true
      const next = message(alice, id)
      const change = A.getChanges(alice, next)
      await other.relay(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(next), need: [], have: [], changes: change })), 'alice', ALICE)
      await vi.waitFor(() => expect(held.writes).toHaveLength(1))
      return { change, hash: hashes(change)[0]!, release: () => held.writes[0]!.release() }
    }
    const bobHas = (hash: string) => changesSentTo(sent, BOB, segmentId).includes(hash)
    return { bus, conversation, segmentId, open, sendInFlight, bobHas }
  }

  it('reloads once more SETTLE_MS after it starts to hear a conversation: a change published before, stored after its first reload, reaches its peer', async () => {
    const { bus, conversation, open, sendInFlight, bobHas } = await twoNodes()
    await open()
    // Accepted on the other node, its frame sent before this node listened, its write still out.
    const { hash, release } = await sendInFlight('in-flight')
    bus.handlers!.listening(conversation)
    await new Promise(resolve => setTimeout(resolve, SETTLE_MS / 4))
    expect(bobHas(hash)).toBe(false)
    release()
    await vi.waitFor(() => expect(bobHas(hash)).toBe(true))
  })

  it('reloads once more SETTLE_MS after loading a segment whose frame it heard while it was not loaded', async () => {
    const { bus, conversation, segmentId, open, sendInFlight, bobHas } = await twoNodes()
    const { change, hash, release } = await sendInFlight('heard-unloaded')
    // The frame comes before anyone here uses the segment; then Bob opens it, before the write is done.
    bus.handlers!.changes(conversation, segmentId, change)
    await open()
    expect(bobHas(hash)).toBe(false)
    release()
    await vi.waitFor(() => expect(bobHas(hash)).toBe(true))
  })

  it('stores a change heard over the bus that its node never stored before a new peer hears its heads, and numbers its events', async () => {
    const storage = new MemoryStorageAdapter()
    const { bus, port } = recordingBus()
    const reloaded: string[] = []
    const { hub, conversation } = await setup({ storage, bus: port, settleMs: SETTLE_MS, hooks: { reloaded: (_conversation, _segment, events) => void reloaded.push(...events.map(event => event.id)) } })
    const segmentId = newId()
    const alice = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
    expect(await hub.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes: A.getAllChanges(alice) })), 'alice', ALICE)).toBeUndefined()
    expect(await hub.receive(request(segmentId), 'bob', BOB)).toBeUndefined()
    // Alice's next change was accepted by a node that published it and died before storing it.
    const next = message(alice, 'orphaned')
    const change = A.getChanges(alice, next)
    bus.handlers!.changes(conversation, segmentId, change)
    await vi.waitFor(async () => expect(await hub.heads(segmentId)).toEqual(A.getHeads(next)))
    expect((await new LogStorage(storage).load(segmentId))!.heads()).toEqual(A.getHeads(alice))
    // Her client reconnects here, holding the change the dead node never acknowledged.
    const reconnected = '@alice/a2' as typeof ALICE
    expect(await hub.receive(sync(segmentId, reconnected, A.encodeSyncMessage({ heads: A.getHeads(next), need: [], have: [{ lastSync: [], bloom: new Uint8Array() }], changes: [] })), 'alice', reconnected)).toBeUndefined()
    await hub.flush()
    expect((await new LogStorage(storage).load(segmentId))!.heads()).toEqual(A.getHeads(next))
    expect(reloaded).toContain('orphaned')
  })

  it('compares heard changes with storage once more than 256 wait, with no new peer, and stores those it lacks', async () => {
    const storage = new MemoryStorageAdapter()
    const { bus, port } = recordingBus()
    const { hub, conversation } = await setup({ storage, bus: port, settleMs: SETTLE_MS })
    const segmentId = newId()
    let alice = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
    expect(await hub.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes: A.getAllChanges(alice) })), 'alice', ALICE)).toBeUndefined()
    expect(await hub.receive(request(segmentId), 'bob', BOB)).toBeUndefined()
    // 257 changes another node published and never stored.
    const before = alice
    for (let i = 0; i < 257; i++) alice = message(alice, `unstored-${i}`)
    bus.handlers!.changes(conversation, segmentId, A.getChanges(before, alice))
    await vi.waitFor(async () => expect(await hub.heads(segmentId)).toEqual(A.getHeads(alice)))
    await vi.waitFor(async () => {
      await hub.flush()
      expect((await new LogStorage(storage).load(segmentId))!.heads()).toEqual(A.getHeads(alice))
    })
  })
})
