/**
 * Property tests of the relay's sync: unmodified Automerge clients (their own
 * generateSyncMessage/receiveSyncMessage and sync states) write concurrently, go offline,
 * lose and duplicate messages and reconnect with fresh or stale sync states, all through
 * one relay log. After everyone reconnects and the network settles, every replica has the
 * relay's heads, nothing written is lost, and the log loads as that document.
 */
import { next as A } from '@automerge/automerge'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AutomergeServer, Network, RelayServer, type Action } from './sim.ts'

const CLIENTS = 4
/** RELAY_RUNS=600 for a longer search than the default few seconds. */
const RUNS = process.env.RELAY_RUNS ? Number(process.env.RELAY_RUNS) : undefined
const LONG = RUNS ? 30 * 60_000 : undefined

const actionArbitrary: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('write' as const), client: fc.nat(CLIENTS - 1) }) },
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('deliver' as const), client: fc.nat(CLIENTS - 1), toServer: fc.boolean(), duplicate: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), client: fc.nat(CLIENTS - 1), toServer: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('disconnect' as const), client: fc.nat(CLIENTS - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reconnect' as const), client: fc.nat(CLIENTS - 1), staleClient: fc.boolean(), staleServer: fc.boolean() }) },
)

/** Everyone (re)connects, fresh or stale, then the network delivers everything in order. */
function heal(network: Network, stale: readonly boolean[]): boolean {
  network.clients.forEach((_, client) => network.apply({ kind: 'reconnect', client, staleClient: stale[client]!, staleServer: stale[(client + 1) % stale.length]! }))
  return network.settle()
}

function start(network: Network): void {
  for (let client = 0; client < CLIENTS; client++) network.apply({ kind: 'reconnect', client, staleClient: false, staleServer: false })
}

/**
 * Runs `actions`, heals, and checks every replica has the relay's heads, knows the relay
 * holds them (what an acknowledgement tells it), and lost nothing; the log loads as the document.
 */
function expectConvergence(relay: RelayServer, actions: readonly Action[], stale: readonly boolean[]): void {
  const network = new Network(relay, CLIENTS)
  start(network)
  for (const action of actions) network.apply(action)
  expect(heal(network, stale)).toBe(true)
  const heads = [...relay.heads()]
  for (const client of network.clients) {
    expect(A.getHeads(client.doc)).toEqual(heads)
    expect([...(client.sync.theirHeads ?? [])].sort()).toEqual([...heads].sort())
    for (const hash of client.authored) expect(relay.log.hasHash(hash)).toBe(true)
  }
  expect(relay.log.pendingCount).toBe(0)
  expect(A.getHeads(A.load(relay.log.concat()))).toEqual(heads)
}

const staleArbitrary = fc.array(fc.boolean(), { minLength: CLIENTS, maxLength: CLIENTS })

describe('relay sync with unmodified Automerge clients', () => {
  it('every replica converges to the relay heads, nothing written is lost, the log loads as the document', () => {
    fc.assert(
      fc.property(fc.array(actionArbitrary, { maxLength: 120 }), staleArbitrary, (actions, stale) => expectConvergence(new RelayServer(), actions, stale)),
      { numRuns: RUNS ?? 60 },
    )
  }, LONG)

  it('converges as well when acknowledgements wait for writes that complete later (the live relay, relay/hub.ts)', () => {
    const withWrites = fc.oneof({ weight: 6, arbitrary: actionArbitrary }, { weight: 2, arbitrary: fc.constant({ kind: 'written' as const }) })
    fc.assert(
      fc.property(fc.array(withWrites, { maxLength: 120 }), staleArbitrary, (actions, stale) => expectConvergence(new RelayServer(true), actions, stale)),
      { numRuns: RUNS ?? 60 },
    )
  }, LONG)

  it('differential: the same histories through Automerge own sync end with the same heads and the same changes received', () => {
    // Reliable, in-order delivery (as over a WebSocket), random interleaving, offline
    // writes and reconnects: the two servers see exactly the same client actions.
    const reliable = actionArbitrary.filter(action => action.kind !== 'drop' && !(action.kind === 'deliver' && action.duplicate))
    fc.assert(
      fc.property(fc.array(reliable, { maxLength: 120 }), staleArbitrary, (actions, stale) => {
        const runs = [new RelayServer(), new AutomergeServer()].map(server => {
          const network = new Network(server, CLIENTS)
          start(network)
          for (const action of actions) network.apply(action)
          expect(heal(network, stale)).toBe(true)
          return { server, network }
        })
        const [relay, automerge] = runs as [(typeof runs)[0], (typeof runs)[0]]
        // and it takes no more round trips: a relay that skipped its Bloom-filter answer
        // would still converge, one need at a time.
        expect(relay.network.delivered).toBeLessThanOrEqual(automerge.network.delivered)
        expect([...relay.server.heads()]).toEqual(A.getHeads((automerge.server as AutomergeServer).doc))
        relay.network.clients.forEach((client, i) => {
          const other = automerge.network.clients[i]!
          expect(A.getHeads(client.doc)).toEqual(A.getHeads(other.doc))
          const foreign = (received: Set<string>, authored: Set<string>) => [...received].filter(hash => !authored.has(hash)).sort()
          expect(foreign(client.received, client.authored)).toEqual(foreign(other.received, other.authored))
        })
      }),
      { numRuns: RUNS ?? 40 },
    )
  }, LONG)
})
