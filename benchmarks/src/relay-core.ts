/**
 * npm run relay-core -w @parley/benchmarks
 *
 * Server CPU per change for two peers alternating on one segment (a ladder-shaped
 * history): Automerge's own sync through a server-side document, against the relay core
 * (sync-server/src/relay: receive into a change log, forward the change as bytes to the
 * peer in sync, acknowledge the writer). Both clients are plain Automerge documents using
 * Automerge's own sync functions; only the server's calls are timed. Reported as µs per
 * change over events 0–99, 400–499 and 900–999 of the segment, with the cost of reading a
 * change (Automerge.decodeChange against the relay's header parse) at the same points.
 */
import { next as A } from '@automerge/automerge'
import {
  canForward,
  ChangeLog,
  createPeerState,
  forwardable,
  forwarded,
  generate,
  parseChangeChunk,
  receive,
  type PeerState,
} from '../../sync-server/src/relay/index.ts'

type Doc = A.Doc<{ events?: { id: string; author: string; text: string; at: number }[] }>
type Outgoing = { to: number; bytes: Uint8Array }[]

interface Server {
  message(peer: number, bytes: Uint8Array): Outgoing
  connect(peer: number): Outgoing
}

class AutomergeServer implements Server {
  doc: Doc = A.init()
  readonly states = new Map<number, A.SyncState>()
  connect(peer: number): Outgoing {
    this.states.set(peer, A.initSyncState())
    return this.#generate(peer)
  }
  message(peer: number, bytes: Uint8Array): Outgoing {
    const before = A.getHeads(this.doc).join()
    const [doc, state] = A.receiveSyncMessage(this.doc, this.states.get(peer)!, bytes)
    this.doc = doc
    this.states.set(peer, state)
    const out = this.#generate(peer)
    if (A.getHeads(doc).join() !== before) for (const other of this.states.keys()) if (other !== peer) out.push(...this.#generate(other))
    return out
  }
  #generate(peer: number): Outgoing {
    const [state, message] = A.generateSyncMessage(this.doc, this.states.get(peer)!)
    this.states.set(peer, state)
    return message ? [{ to: peer, bytes: message }] : []
  }
}

class RelayServer implements Server {
  readonly log = new ChangeLog()
  readonly states = new Map<number, PeerState>()
  connect(peer: number): Outgoing {
    this.states.set(peer, createPeerState())
    return this.#generate(peer)
  }
  message(peer: number, bytes: Uint8Array): Outgoing {
    const before = this.log.heads()
    const { state, appended } = receive(this.log, this.states.get(peer)!, bytes)
    this.states.set(peer, state)
    const out: Outgoing = []
    if (appended.accepted.length > 0) {
      const forward = forwardable(this.log, appended.accepted, before)
      for (const [other, otherState] of this.states) {
        if (other === peer) continue
        if (canForward(otherState, forward)) {
          this.states.set(other, forwarded(otherState, forward))
          out.push({ to: other, bytes: forward.message })
        } else out.push(...this.#generate(other))
      }
    }
    out.push(...this.#generate(peer))
    return out
  }
  #generate(peer: number): Outgoing {
    const { state, message } = generate(this.log, this.states.get(peer)!)
    this.states.set(peer, state)
    return message ? [{ to: peer, bytes: message }] : []
  }
}

/** Runs `events` alternating changes; returns server µs per change and the changes made. */
function run(server: Server, events: number): { perChange: number[]; changes: Uint8Array[] } {
  const docs: Doc[] = [A.init({ actor: 'aa'.repeat(16) }), A.init({ actor: 'bb'.repeat(16) })]
  const sync = [A.initSyncState(), A.initSyncState()]
  const perChange: number[] = []
  const changes: Uint8Array[] = []
  let serverMs = 0
  const queue: { to: number | 'server'; from: number; bytes: Uint8Array }[] = []
  const toServer = (from: number, bytes: Uint8Array) => {
    const start = performance.now()
    const out = server.message(from, bytes)
    serverMs += performance.now() - start
    for (const { to, bytes } of out) queue.push({ to, from: -1, bytes })
  }
  const clientGenerate = (peer: number) => {
    const [state, message] = A.generateSyncMessage(docs[peer]!, sync[peer]!)
    sync[peer] = state
    if (message) queue.push({ to: 'server', from: peer, bytes: message })
  }
  const settle = () => {
    while (queue.length > 0) {
      const next = queue.shift()!
      if (next.to === 'server') toServer(next.from, next.bytes)
      else {
        const [doc, state] = A.receiveSyncMessage(docs[next.to]!, sync[next.to]!, next.bytes)
        docs[next.to] = doc
        sync[next.to] = state
        clientGenerate(next.to)
      }
    }
  }
  for (const peer of [0, 1]) {
    for (const { to, bytes } of server.connect(peer)) queue.push({ to, from: -1, bytes })
    clientGenerate(peer)
  }
  settle()
  for (let i = 0; i < events; i++) {
    const writer = i % 2
    docs[writer] = A.change(docs[writer]!, d => {
      d.events ??= []
      d.events.push({ id: `e${i}`, author: writer === 0 ? 'alice' : 'bob', text: `message ${i}`, at: 1_700_000_000_000 + i })
    })
    changes.push(A.getLastLocalChange(docs[writer]!)!)
    serverMs = 0
    clientGenerate(writer)
    settle()
    perChange.push(serverMs * 1000)
  }
  const heads = [A.getHeads(docs[0]!).join(), A.getHeads(docs[1]!).join()]
  if (heads[0] !== heads[1]) throw new Error('the two peers did not converge')
  return { perChange, changes }
}

const WINDOWS: [number, number][] = [
  [0, 100],
  [400, 500],
  [900, 1000],
]
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length
// The median resists the preemption spikes of a shared machine; the mean is shown beside it.
const windows = (values: number[]) =>
  WINDOWS.map(([from, to]) => `${median(values.slice(from, to)).toFixed(0)} (${mean(values.slice(from, to)).toFixed(0)})`).join(' / ')

function timeEach(changes: Uint8Array[], read: (change: Uint8Array) => unknown, repeat = 20): number[] {
  return changes.map(change => {
    const start = performance.now()
    for (let i = 0; i < repeat; i++) read(change)
    return ((performance.now() - start) * 1000) / repeat
  })
}

const started = performance.now()
run(new RelayServer(), 100) // warm up both paths
run(new AutomergeServer(), 100)
const automerge = run(new AutomergeServer(), 1000)
const relay = run(new RelayServer(), 1000)
const rows = [
  ['Automerge sync through a server document (receive + generate per peer)', windows(automerge.perChange)],
  ['relay core (receive into the log + one shared forward + ack)', windows(relay.perChange)],
  ['Automerge.decodeChange of the change', windows(timeEach(relay.changes, change => A.decodeChange(change)))],
  ['relay header parse of the change (parseChangeChunk)', windows(timeEach(relay.changes, parseChangeChunk))],
]
console.log('server µs per change, two peers alternating, events 0–99 / 400–499 / 900–999 of a segment (Automerge 2.2.9)')
console.log('| path | median (mean) µs per change |\n| --- | --- |')
for (const [path, value] of rows) console.log(`| ${path} | ${value} |`)
console.log(`(run took ${((performance.now() - started) / 1000).toFixed(1)} s)`)
