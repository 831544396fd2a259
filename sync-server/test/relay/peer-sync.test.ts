import { next as A } from '@automerge/automerge'
import { describe, expect, it } from 'vitest'
import { BloomFilter } from '../../src/relay/bloom.ts'
import { ChangeLog } from '../../src/relay/change-log.ts'
import { canForward, createPeerState, decodeSyncMessage, forwardable, generate, receive } from '../../src/relay/peer-sync.ts'
import { SentHashes } from '../../src/relay/sent-hashes.ts'
import { Network, RelayServer } from './sim.ts'

function connectAll(network: Network): void {
  network.clients.forEach((_, client) => network.apply({ kind: 'reconnect', client, staleClient: false, staleServer: false }))
  expect(network.settle()).toBe(true)
}

describe('relay sync', () => {
  it('forwards each change of two alternating writers as one shared message, with no generate for the receiver', () => {
    const relay = new RelayServer()
    const network = new Network(relay, 3)
    connectAll(network)
    const generatedBefore = relay.generated
    const changes = 200
    for (let i = 0; i < changes; i++) {
      network.apply({ kind: 'write', client: i % 2 })
      expect(network.settle()).toBe(true)
    }
    // each change reached the two other clients by a forward
    expect(relay.forwards).toBe(2 * changes)
    // generate ran for the writer's acknowledgement and on each client's reply, never to carry the change
    const forwardedChanges = network.clients.slice(0, 2).map(c => c.receivedTotal)
    expect(forwardedChanges).toEqual([changes / 2, changes / 2])
    expect(network.clients[2]!.receivedTotal).toBe(changes)
    expect(relay.generated - generatedBefore).toBeLessThanOrEqual(3 * changes + 1)
    for (const client of network.clients) expect(A.getHeads(client.doc)).toEqual([...relay.heads()])
  })

  it('brings a peer that was offline up to date with a generated catch-up, then forwards to it again', () => {
    const relay = new RelayServer()
    const network = new Network(relay, 2)
    connectAll(network)
    network.apply({ kind: 'disconnect', client: 1 })
    for (let i = 0; i < 20; i++) network.apply({ kind: 'write', client: i % 2 })
    expect(network.settle()).toBe(true)
    network.apply({ kind: 'reconnect', client: 1, staleClient: true, staleServer: false })
    expect(network.settle()).toBe(true)
    expect(A.getHeads(network.clients[1]!.doc)).toEqual([...relay.heads()])
    const forwards = relay.forwards
    network.apply({ kind: 'write', client: 0 })
    expect(network.settle()).toBe(true)
    expect(relay.forwards).toBe(forwards + 1)
    expect(A.getHeads(network.clients[1]!.doc)).toEqual([...relay.heads()])
  })

  it('asks a client that claims shared heads the relay does not have to start over, and gets everything', () => {
    const first = new RelayServer()
    const network = new Network(first, 1)
    connectAll(network)
    for (let i = 0; i < 5; i++) network.apply({ kind: 'write', client: 0 })
    expect(network.settle()).toBe(true)
    // the relay loses its log; the client comes back with its persisted sync state
    const relay = new RelayServer()
    const again = new Network(relay, 1)
    again.clients[0]!.doc = network.clients[0]!.doc
    again.clients[0]!.sync = network.clients[0]!.sync
    again.apply({ kind: 'reconnect', client: 0, staleClient: true, staleServer: false })
    expect(again.settle()).toBe(true)
    expect([...relay.heads()]).toEqual(A.getHeads(network.clients[0]!.doc))
    expect(relay.log.size).toBe(5)
  })

  it('does not forward to a peer that was told our heads but not yet sent what it lacks', () => {
    const log = new ChangeLog()
    const writer = new Network(new RelayServer(), 1)
    for (let i = 0; i < 3; i++) writer.apply({ kind: 'write', client: 0 })
    log.append(A.getAllChanges(writer.clients[0]!.doc))
    const previousHeads = log.heads()
    // our first message to a new peer carries our heads, but no changes: we do not know its have yet
    const hello = generate(log, createPeerState())
    expect(hello.state.lastSentHeads).toEqual(previousHeads)
    writer.apply({ kind: 'write', client: 0 })
    const appended = log.append([A.getLastLocalChange(writer.clients[0]!.doc)!])
    const forward = forwardable(log, appended.accepted, previousHeads)
    expect(canForward(hello.state, forward)).toBe(false)
    // once it answers (it has nothing) and we send it everything, it can take forwards
    const [, reply] = A.generateSyncMessage(A.init(), A.initSyncState())
    const caughtUp = generate(log, receive(log, hello.state, reply!).state)
    expect(decodeSyncMessage(caughtUp.message!).changes).toHaveLength(4)
    writer.apply({ kind: 'write', client: 0 })
    const before = log.heads()
    const next = forwardable(log, log.append([A.getLastLocalChange(writer.clients[0]!.doc)!]).accepted, before)
    expect(canForward(caughtUp.state, next)).toBe(true)
  })

  it('does not answer an acknowledgement written before the forwards on their way to that peer', () => {
    const relay = new RelayServer()
    const network = new Network(relay, 2)
    connectAll(network)
    const deliverAll = (client: number, toServer: boolean) => {
      while ((toServer ? network.toServer : network.toClient)[client]!.length > 0) network.apply({ kind: 'deliver', client, toServer, duplicate: false })
    }
    const writeAndForward = () => {
      network.apply({ kind: 'write', client: 0 })
      deliverAll(0, true)
      network.apply({ kind: 'written' })
    }
    writeAndForward()
    writeAndForward()
    deliverAll(1, false)
    // Client 1 holds its acknowledgements and sends only the newest (as the client library does)…
    while (network.toServer[1]!.length > 1) network.apply({ kind: 'drop', client: 1, toServer: true })
    // …which reaches the relay after three more changes were forwarded to it.
    for (let i = 0; i < 3; i++) writeAndForward()
    expect(network.toClient[1]).toHaveLength(3)
    deliverAll(1, true)
    expect(network.toClient[1]).toHaveLength(3)
    expect(network.settle()).toBe(true)
    for (const client of network.clients) expect(A.getHeads(client.doc)).toEqual([...relay.heads()])
  })

  it('asks a peer for a change its heads name but its message left out, even with messages of ours in flight to it', () => {
    // A client leaves out a change our Bloom filter falsely seems to hold (about 1 in 100):
    // its message names the change in its heads only. We must ask for it (need).
    const writer = new Network(new RelayServer(), 1)
    for (let i = 0; i < 3; i++) writer.apply({ kind: 'write', client: 0 })
    const log = new ChangeLog()
    log.append(A.getAllChanges(writer.clients[0]!.doc))
    const heads = [...log.heads()]
    const inFlight = { ...createPeerState(heads), lastSentHeads: heads, theirHeads: heads, theirNeed: [], theirHave: [], sentHashes: SentHashes.of(['0'.repeat(64)]), inFlight: true, haveResponded: true, caughtUp: true }
    const theirs = 'f'.repeat(64)
    const headsOnly = A.encodeSyncMessage({ heads: [theirs], need: [], have: [], changes: [] })
    const next = generate(log, receive(log, inFlight, headsOnly).state)
    expect(next.message).not.toBeNull()
    expect(decodeSyncMessage(next.message!).need).toEqual([theirs])
  })

  it('sends a peer whose heads it knows only what follows them, not what lies between its lastSync and its heads', () => {
    // A peer that fell behind (or sent a change before holding all it depends on) may say a
    // lastSync older than its heads; it holds everything its heads depend on all the same.
    const writer = new Network(new RelayServer(), 1)
    for (let i = 0; i < 7; i++) writer.apply({ kind: 'write', client: 0 })
    const changes = A.getAllChanges(writer.clients[0]!.doc)
    const hashes = changes.map(change => A.decodeChange(change).hash!)
    const log = new ChangeLog()
    log.append(changes)
    const stale = A.encodeSyncMessage({ heads: [hashes[4]!], need: [], have: [{ lastSync: [hashes[1]!], bloom: BloomFilter.fromHashes([]).encode() }], changes: [] })
    const next = generate(log, receive(log, createPeerState(), stale).state)
    expect(decodeSyncMessage(next.message!).changes.map(change => A.decodeChange(change).hash)).toEqual(hashes.slice(5))
  })

  it('says nothing to a peer that has everything', () => {
    const log = new ChangeLog()
    let state = createPeerState()
    const doc = A.init()
    const [, hello] = A.generateSyncMessage(doc, A.initSyncState())
    state = receive(log, state, hello!).state
    const first = generate(log, state)
    expect(first.message).not.toBeNull()
    expect(decodeSyncMessage(first.message!).changes).toEqual([])
    expect(generate(log, first.state).message).toBeNull()
  })

  it('refuses bytes that are not a sync message with PARLEY_ERR_BAD_REQUEST', () => {
    expect(() => receive(new ChangeLog(), createPeerState(), new Uint8Array([0xf6]))).toThrow(expect.objectContaining({ code: 'PARLEY_ERR_BAD_REQUEST' }))
  })
})
