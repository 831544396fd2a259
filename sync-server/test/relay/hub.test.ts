/** The relay hub (relay/hub.ts) on its own: messages in, messages out, no network. */
import { next as A } from '@automerge/automerge'
import { cbor, type DocumentId, type Message } from '@automerge/automerge-repo'
import { appendEvent, initSegment, MemoryStorageAdapter, type SegmentDoc } from '@parley/core'
import { describe, expect, it, vi } from 'vitest'
import type { SegmentBus, SegmentBusHandlers } from '../../src/relay/bus.ts'
import { LogStorage } from '../../src/relay/log-storage.ts'
import { decodeFrame, decodeSyncData } from '../../src/network/frames.ts'
import { ALICE, BOB, heldWrites, hubHarness, newId, sync } from './hub-harness.ts'

describe('RelayHub', () => {
  const { setup, otherNode } = hubHarness()

  it('asks a peer syncing a segment it lacks for its changes, and tells a peer requesting it that nobody has it', async () => {
    const { hub, registry, sent, conversation } = await setup()
    const segmentId = newId()
    await registry.register(segmentId, { type: 'segment', conversation, reserved: true })
    const doc = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
    const heads = A.getHeads(doc)
    expect(await hub.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads, need: [], have: [], changes: [] })), 'alice', ALICE)).toBeUndefined()
    const reply = sent.at(-1) as Message & { data: Uint8Array }
    expect(reply.type).toBe('sync')
    expect(A.decodeSyncMessage(reply.data).need).toEqual(heads)

    expect(await hub.receive(sync(segmentId, BOB, A.encodeSyncMessage({ heads: [], need: [], have: [{ lastSync: [], bloom: new Uint8Array() }], changes: [] }), 'request'), 'bob', BOB)).toBeUndefined()
    expect(sent.at(-1)).toMatchObject({ type: 'doc-unavailable', targetId: BOB, documentId: segmentId })

    // Alice sends it: Bob, who asked, gets it.
    const changes = A.getAllChanges(doc)
    expect(await hub.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads, need: [], have: [], changes })), 'alice', ALICE)).toBeUndefined()
    const toBob = sent.filter(message => message.targetId === BOB && message.type === 'sync').at(-1) as Message & { data: Uint8Array }
    expect(A.decodeSyncMessage(toBob.data).changes.length).toBeGreaterThan(0)
    expect(await hub.heads(segmentId)).toEqual(heads)
  })

  it('forwards a member’s change to the other peer in one shared message, and refuses a forged author', async () => {
    const { hub, sent, conversation } = await setup()
    const segmentId = newId()
    let alice = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
    expect(await hub.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes: A.getAllChanges(alice) })), 'alice', ALICE)).toBeUndefined()
    expect(await hub.receive(sync(segmentId, BOB, A.encodeSyncMessage({ heads: [], need: [], have: [{ lastSync: [], bloom: new Uint8Array() }], changes: [] }), 'request'), 'bob', BOB)).toBeUndefined()
    const before = alice
    alice = A.change(alice, d => appendEvent(d, { id: 'e1', type: 'message', author: 'alice', device: 'a', at: 1, text: 'hi' }))
    const change = A.getChanges(before, alice)
    sent.length = 0
    expect(await hub.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes: change })), 'alice', ALICE)).toBeUndefined()
    const toBob = sent.find(message => message.targetId === BOB) as Message & { data: Uint8Array }
    expect(A.decodeSyncMessage(toBob.data).changes.map(bytes => A.decodeChange(bytes).hash)).toEqual(change.map(bytes => A.decodeChange(bytes).hash))

    const forged = A.change(A.clone(alice, 'b0b0'), d => appendEvent(d, { id: 'e2', type: 'message', author: 'alice', device: 'b', at: 2, text: 'I am alice' }))
    const violation = await hub.receive(sync(segmentId, BOB, A.encodeSyncMessage({ heads: A.getHeads(forged), need: [], have: [], changes: A.getChanges(alice, forged) })), 'bob', BOB)
    expect(violation).toMatchObject({ code: 4403, reason: expect.stringContaining('names alice as author') })
    expect(await hub.heads(segmentId)).toEqual(A.getHeads(alice))
  })

  it('refuses an event reusing another author’s event ID (event-ID shadowing), before the index has numbered it', async () => {
    const { hub, conversation } = await setup()
    const segmentId = newId()
    const alice = A.change(A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation)), d => appendEvent(d, { id: 'e1', type: 'message', author: 'alice', device: 'a', at: 5, text: 'at 5' }))
    expect(await hub.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes: A.getAllChanges(alice) })), 'alice', ALICE)).toBeUndefined()
    const bob = A.change(A.clone(alice, 'b0b0'), d => appendEvent(d, { id: 'e1', type: 'message', author: 'bob', device: 'b', at: 1, text: 'cancelled' }))
    const violation = await hub.receive(sync(segmentId, BOB, A.encodeSyncMessage({ heads: A.getHeads(bob), need: [], have: [], changes: A.getChanges(alice, bob) })), 'bob', BOB)
    expect(violation).toMatchObject({ code: 4403, reason: expect.stringContaining('event ID e1 is already alice’s event') })
  })

  it('keeps no more logs loaded than maxLoaded while peers still sync them, and relays on a parked segment once it is used again', async () => {
    const { hub, sent, conversation } = await setup({ maxLoaded: 1 })
    const segments = [newId(), newId()]
    const alices = new Map<string, A.Doc<SegmentDoc>>()
    for (const segmentId of segments) {
      const alice = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
      alices.set(segmentId, alice)
      expect(await hub.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes: A.getAllChanges(alice) })), 'alice', ALICE)).toBeUndefined()
      expect(await hub.receive(sync(segmentId, BOB, A.encodeSyncMessage({ heads: [], need: [], have: [{ lastSync: [], bloom: new Uint8Array() }], changes: [] }), 'request'), 'bob', BOB)).toBeUndefined()
      // Bob has it all now: his acknowledgement.
      const heads = A.getHeads(alice)
      expect(await hub.receive(sync(segmentId, BOB, A.encodeSyncMessage({ heads, need: [], have: [{ lastSync: heads, bloom: new Uint8Array() }], changes: [] })), 'bob', BOB)).toBeUndefined()
    }
    // Both have peers; the sweep (every second without idleMs) parks the least recently used.
    await vi.waitFor(() => expect(hub.loadedCount).toBe(1), { timeout: 5000 })
    const parked = segments[0]!
    const before = alices.get(parked)!
    const alice = A.change(before, d => appendEvent(d, { id: 'after-park', type: 'message', author: 'alice', device: 'a', at: 1, text: 'still relayed' }))
    const changes = A.getChanges(before, alice)
    sent.length = 0
    expect(await hub.receive(sync(parked, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes })), 'alice', ALICE)).toBeUndefined()
    const toBob = sent.filter(message => message.targetId === BOB && message.documentId === parked && message.type === 'sync') as (Message & { data: Uint8Array })[]
    expect(toBob.flatMap(message => A.decodeSyncMessage(message.data).changes).map(bytes => A.decodeChange(bytes).hash)).toEqual(changes.map(bytes => A.decodeChange(bytes).hash))
    expect(await hub.heads(parked)).toEqual(A.getHeads(alice))
  })

  it('forgets the registry entry of a segment it unloads (a load-through cache: what every segment ever served left behind)', async () => {
    const { hub, registry, conversation } = await setup({ maxLoaded: 1 })
    const segments = [newId(), newId()]
    for (const segmentId of segments) {
      const alice = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
      expect(await hub.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes: A.getAllChanges(alice) })), 'alice', ALICE)).toBeUndefined()
    }
    hub.peerLeft(ALICE)
    expect(segments.map(id => registry.canRead('alice', id))).toEqual([true, true])
    // No peers: past maxLoaded the sweep unloads the least recently used, entry and all.
    await vi.waitFor(() => expect(hub.loadedCount).toBe(1), { timeout: 5000 })
    await vi.waitFor(() => expect(segments.map(id => registry.canRead('alice', id))).toEqual([false, true]))
    // Read again from the registry's store when it is used again.
    expect(await registry.mayRead('alice', segments[0]!)).toBe(true)
    expect(await hub.heads(segments[0]!)).not.toBeNull()
  })

  it('loads a parked segment again when another node’s change to it arrives over the bus, and relays that change to its peers here', async () => {
    const storage = new MemoryStorageAdapter()
    let handlers: SegmentBusHandlers | undefined
    const joined: string[] = []
    const bus: SegmentBus = { attach: given => void (handlers = given), join: id => void joined.push(id), leave: id => void joined.splice(joined.indexOf(id), 1), hears: () => true, publish: () => {} }
    const { hub, registry, sent, conversation } = await setup({ storage, maxLoaded: 1, bus })
    // Another node on the same storage, where alice writes.
    const other = otherNode(storage, registry)
    const segments = [newId(), newId()]
    let alice = A.init<SegmentDoc>()
    for (const segmentId of segments) {
      const created = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
      if (segmentId === segments[0]) alice = created
      expect(await other.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(created), need: [], have: [], changes: A.getAllChanges(created) })), 'alice', ALICE)).toBeUndefined()
      await other.flush()
      // Bob syncs it on this node.
      expect(await hub.receive(sync(segmentId, BOB, A.encodeSyncMessage({ heads: [], need: [], have: [{ lastSync: [], bloom: new Uint8Array() }], changes: [] }), 'request'), 'bob', BOB)).toBeUndefined()
      const heads = A.getHeads(created)
      expect(await hub.receive(sync(segmentId, BOB, A.encodeSyncMessage({ heads, need: [], have: [{ lastSync: heads, bloom: new Uint8Array() }], changes: [] })), 'bob', BOB)).toBeUndefined()
    }
    await vi.waitFor(() => expect(hub.loadedCount).toBe(1), { timeout: 5000 })
    // Parked, the segment's conversation is still heard here.
    expect(joined).toEqual([conversation, conversation])
    const before = alice
    alice = A.change(alice, d => appendEvent(d, { id: 'from-the-other-node', type: 'message', author: 'alice', device: 'a', at: 1, text: 'over the bus' }))
    const changes = A.getChanges(before, alice)
    expect(await other.receive(sync(segments[0]!, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes })), 'alice', ALICE)).toBeUndefined()
    await other.flush()
    sent.length = 0
    handlers!.changes(conversation, segments[0]!, changes)
    await vi.waitFor(() => expect(sent.some(message => message.targetId === BOB && message.documentId === segments[0])).toBe(true))
    const toBob = sent.filter(message => message.targetId === BOB && message.type === 'sync') as (Message & { data: Uint8Array })[]
    expect(toBob.flatMap(message => A.decodeSyncMessage(message.data).changes).map(bytes => A.decodeChange(bytes).hash)).toEqual(changes.map(bytes => A.decodeChange(bytes).hash))
  })

  it('takes another user’s change a client re-sends once the shared storage shows another node stored it, after reloading the log', async () => {
    const storage = new MemoryStorageAdapter()
    // This node hears nothing from the bus: its loaded log falls behind the other node's writes.
    const bus: SegmentBus = { attach: () => {}, join: () => {}, leave: () => {}, hears: () => false, publish: () => {} }
    const { hub, registry, conversation } = await setup({ storage, bus })
    const other = otherNode(storage, registry)
    const segmentId = newId()
    const created = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
    expect(await other.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(created), need: [], have: [], changes: A.getAllChanges(created) })), 'alice', ALICE)).toBeUndefined()
    expect(await hub.receive(sync(segmentId, BOB, A.encodeSyncMessage({ heads: [], need: [], have: [{ lastSync: [], bloom: new Uint8Array() }], changes: [] }), 'request'), 'bob', BOB)).toBeUndefined()
    const alice = A.change(created, d => appendEvent(d, { id: 'a1', type: 'message', author: 'alice', device: 'a', at: 1, text: 'stored on the other node' }))
    const change = A.getChanges(created, alice)
    // Acknowledged to Alice once stored there.
    expect(await other.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes: change })), 'alice', ALICE)).toBeUndefined()
    // Bob got it from the other node and offers it here: not a forgery.
    expect(await hub.receive(sync(segmentId, BOB, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes: change })), 'bob', BOB)).toBeUndefined()
    expect(await hub.heads(segmentId)).toEqual(A.getHeads(alice))
    // One she never sent is still refused.
    const forged = A.change(alice, d => appendEvent(d, { id: 'a2', type: 'message', author: 'alice', device: 'a', at: 2, text: 'forged by bob' }))
    expect(await hub.receive(sync(segmentId, BOB, A.encodeSyncMessage({ heads: A.getHeads(forged), need: [], have: [], changes: A.getChanges(alice, forged) })), 'bob', BOB)).toMatchObject({ code: 4403 })
  })

  it('hands the event index the events of changes read back from storage, not of those heard over the bus (numbered before they were published)', async () => {
    const storage = new MemoryStorageAdapter()
    let handlers: SegmentBusHandlers | undefined
    const bus: SegmentBus = { attach: given => void (handlers = given), join: () => {}, leave: () => {}, hears: () => true, publish: () => {} }
    const reloaded: string[] = []
    const { hub, registry, conversation } = await setup({ storage, bus, hooks: { reloaded: (_conversation, _segment, events) => void reloaded.push(...events.map(event => event.id)) } })
    const other = otherNode(storage, registry)
    const segmentId = newId()
    let alice = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
    expect(await other.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes: A.getAllChanges(alice) })), 'alice', ALICE)).toBeUndefined()
    expect(await hub.receive(sync(segmentId, BOB, A.encodeSyncMessage({ heads: [], need: [], have: [{ lastSync: [], bloom: new Uint8Array() }], changes: [] }), 'request'), 'bob', BOB)).toBeUndefined()
    const send = async (id: string) => {
      const before = alice
      alice = A.change(alice, d => appendEvent(d, { id, type: 'message', author: 'alice', device: 'a', at: 1, text: id }))
      const changes = A.getChanges(before, alice)
      expect(await other.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes })), 'alice', ALICE)).toBeUndefined()
      return changes
    }
    handlers!.changes(conversation, segmentId, await send('over-the-bus'))
    await vi.waitFor(async () => expect(await hub.heads(segmentId)).toEqual(A.getHeads(alice)))
    expect(reloaded).toEqual([])
    // A frame the bus lost: the next one has a gap, and the segment is read back from storage.
    await send('lost-frame')
    handlers!.changes(conversation, segmentId, await send('after-the-gap'))
    await vi.waitFor(async () => expect(await hub.heads(segmentId)).toEqual(A.getHeads(alice)))
    expect(reloaded).toEqual(expect.arrayContaining(['lost-frame']))
    expect(reloaded).not.toContain('over-the-bus')
  })

  it('makes the server’s own changes on the latest log, client changes in between included, each after the heads it saw', async () => {
    const { hub, conversation } = await setup()
    const segmentId = newId()
    let alice = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
    expect(await hub.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes: A.getAllChanges(alice) })), 'alice', ALICE)).toBeUndefined()
    const event = (id: string, author: string, at: number) => ({ id, type: 'message' as const, author, device: 'd', at, text: id })
    await hub.changeAsServer(segmentId, d => appendEvent(d, event('http-1', 'alice', 1)))
    // Alice catches up on the server's change, then writes; the server writes again after her.
    alice = A.merge(alice, (await hub.document<SegmentDoc>(segmentId))!)
    const before = alice
    alice = A.change(alice, d => appendEvent(d, event('client-2', 'alice', 2)))
    expect(await hub.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes: A.getChanges(before, alice) })), 'alice', ALICE)).toBeUndefined()
    await hub.changeAsServer(segmentId, d => appendEvent(d, event('http-3', 'alice', 3)))
    const stored = (await hub.document<SegmentDoc>(segmentId))!
    expect(stored.events.map(item => JSON.parse(String(item)).id)).toEqual(['http-1', 'client-2', 'http-3'])
    // The last server change depends on alice's: one head, no fork.
    expect(await hub.heads(segmentId)).toHaveLength(1)
    expect(await hub.isFull(segmentId)).toBe(false)
  })

  it('writes a message’s changes at once, and those of the messages that arrive while that write is out together in the next', async () => {
    const { storage, writes } = heldWrites()
    const { hub, conversation } = await setup({ storage })
    const segmentId = newId()
    let alice = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
    const first = await hub.relay(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes: A.getAllChanges(alice) })), 'alice', ALICE)
    await vi.waitFor(() => expect(writes).toHaveLength(1))
    const later: string[] = []
    for (let i = 1; i <= 3; i++) {
      const before = alice
      alice = A.change(alice, d => appendEvent(d, { id: `e${i}`, type: 'message', author: 'alice', device: 'a', at: i, text: `${i}` }))
      const changes = A.getChanges(before, alice)
      later.push(A.decodeChange(changes[0]!).hash)
      expect(await hub.relay(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes })), 'alice', ALICE)).toHaveProperty('acknowledged')
    }
    expect(writes).toHaveLength(1)
    writes[0]!.release()
    await vi.waitFor(() => expect(writes).toHaveLength(2))
    expect(writes[1]!.hashes).toEqual(later)
    writes[1]!.release()
    if (first && 'acknowledged' in first) expect(await first.acknowledged).toBeUndefined()
    await hub.flush()
    expect((await new LogStorage(storage).load(segmentId))!.heads()).toEqual(A.getHeads(alice))
  })

  it('takes a sync message as the frame check decoded it, without decoding it again', async () => {
    const { hub, conversation } = await setup()
    const segmentId = newId()
    const alice = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
    const framed = decodeFrame(cbor.encode(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes: A.getAllChanges(alice) }))))
    if (!framed.ok || framed.frame.kind !== 'repo') throw new Error('the frame check refused the frame')
    const message = framed.frame.message as Message & { documentId: DocumentId; data: Uint8Array }
    // The frame check's decoded value, emptied: a hub that decodes the bytes again would append the change.
    const decoded = decodeSyncData(message.data)
    expect(decoded.changes).toHaveLength(1)
    decoded.changes = []
    expect(await hub.receive(message, 'alice', ALICE)).toBeUndefined()
    expect(await hub.heads(segmentId)).toBeNull()
  })

  it('relays a member’s next change while the last one is being written, and acknowledges both in one message once both writes are done', async () => {
    const held = heldWrites()
    const { storage, writes } = held
    const { hub, sent, conversation } = await setup({ storage })
    const segmentId = newId()
    let alice = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
    held.hold = false
    expect(await hub.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes: A.getAllChanges(alice) })), 'alice', ALICE)).toBeUndefined()
    held.hold = true
    expect(await hub.receive(sync(segmentId, BOB, A.encodeSyncMessage({ heads: [], need: [], have: [{ lastSync: [], bloom: new Uint8Array() }], changes: [] }), 'request'), 'bob', BOB)).toBeUndefined()
    const next = (i: number) => {
      const before = alice
      alice = A.change(alice, d => appendEvent(d, { id: `e${i}`, type: 'message', author: 'alice', device: 'a', at: i, text: `${i}` }))
      const changes = A.getChanges(before, alice)
      return { hash: A.decodeChange(changes[0]!).hash, message: sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(alice), need: [], have: [], changes })) }
    }
    const toBob = () => sent.filter(message => message.targetId === BOB && message.type === 'sync').length
    const toAlice = () => sent.filter(message => message.targetId === ALICE && message.type === 'sync').length
    sent.length = 0
    const one = next(1)
    // Settled once relayed, while its write is held: the acknowledgement follows (what the network adapter waits for before the sender's next message).
    const first = await hub.relay(one.message, 'alice', ALICE)
    if (!first || !('acknowledged' in first)) throw new Error('expected the acknowledgement to follow the relay')
    await vi.waitFor(() => expect(writes).toHaveLength(1))
    expect(toBob()).toBe(1)
    const two = next(2)
    const second = hub.receive(two.message, 'alice', ALICE)
    // Relayed while the first write is in flight (the database groups the writes: storage/write-batch.ts).
    await vi.waitFor(() => expect(toBob()).toBe(2))
    expect(toAlice()).toBe(0)
    // The second write goes once the first is done (log-storage.ts).
    expect(writes.map(write => write.hashes)).toEqual([[one.hash]])
    writes[0]!.release()
    expect(await first.acknowledged).toBeUndefined()
    expect(toAlice()).toBe(0)
    await vi.waitFor(() => expect(writes.map(write => write.hashes)).toEqual([[one.hash], [two.hash]]))
    writes[1]!.release()
    expect(await second).toBeUndefined()
    expect(toAlice()).toBe(1)
    const stored = (await new LogStorage(storage).load(segmentId))!
    expect([one.hash, two.hash].map(hash => stored.seen(hash))).toEqual([true, true])
    expect(await hub.heads(segmentId)).toEqual(A.getHeads(alice))
  })

  it('acknowledges a change after its write even when the sender’s follow-up at the same heads came first, with what arrived meanwhile, and sends the sender nothing before', async () => {
    const held = heldWrites()
    held.hold = false
    const { hub, sent, conversation } = await setup({ storage: held.storage })
    const segmentId = newId()
    const created = A.change(A.init<SegmentDoc>(), d => initSegment(d, conversation))
    expect(await hub.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads: A.getHeads(created), need: [], have: [], changes: A.getAllChanges(created) })), 'alice', ALICE)).toBeUndefined()
    expect(await hub.receive(sync(segmentId, BOB, A.encodeSyncMessage({ heads: [], need: [], have: [{ lastSync: [], bloom: new Uint8Array() }], changes: [] }), 'request'), 'bob', BOB)).toBeUndefined()
    held.hold = true
    const writes = held.writes
    const alice = A.change(created, d => appendEvent(d, { id: 'a1', type: 'message', author: 'alice', device: 'a', at: 1, text: 'hi' }))
    const heads = A.getHeads(alice)
    const toAlice = () => sent.filter(message => message.targetId === ALICE).map(message => A.decodeSyncMessage((message as Message & { data: Uint8Array }).data))
    sent.length = 0

    const relayed = await hub.relay(sync(segmentId, ALICE, A.encodeSyncMessage({ heads, need: [], have: [], changes: A.getChanges(created, alice) })), 'alice', ALICE)
    if (!relayed || !('acknowledged' in relayed)) throw new Error('expected the acknowledgement to follow the relay')
    // Her follow-up at those heads (the network adapter takes it while the write is out)...
    expect(await hub.receive(sync(segmentId, ALICE, A.encodeSyncMessage({ heads, need: [], have: [{ lastSync: heads, bloom: new Uint8Array() }], changes: [] })), 'alice', ALICE)).toBeUndefined()
    // ...and Bob's change meanwhile: nothing reaches her before her acknowledgement.
    const bob = A.change(A.clone(alice, 'b0b0'), d => appendEvent(d, { id: 'b1', type: 'message', author: 'bob', device: 'b', at: 2, text: 'hello' }))
    const bobChange = A.getChanges(alice, bob)
    const fromBob = await hub.relay(sync(segmentId, BOB, A.encodeSyncMessage({ heads: A.getHeads(bob), need: [], have: [], changes: bobChange })), 'bob', BOB)
    await vi.waitFor(() => expect(writes).toHaveLength(1))
    expect(toAlice()).toEqual([])

    writes[0]!.release()
    expect(await relayed.acknowledged).toBeUndefined()
    // One answer: our heads (hers and Bob's change on top), with Bob's change.
    const [acknowledgement, ...rest] = toAlice()
    expect(rest).toEqual([])
    expect(acknowledgement?.heads).toEqual(A.getHeads(bob))
    expect(acknowledgement?.changes.map(bytes => A.decodeChange(bytes).hash)).toEqual(bobChange.map(bytes => A.decodeChange(bytes).hash))
    await vi.waitFor(() => expect(writes).toHaveLength(2))
    writes[1]!.release()
    if (fromBob && 'acknowledged' in fromBob) expect(await fromBob.acknowledged).toBeUndefined()
  })
})
