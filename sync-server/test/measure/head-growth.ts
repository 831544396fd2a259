/**
 * What a conversation head costs as its read cursors move (docs/architecture.md, "Heads
 * grew with their read cursors"): Automerge keeps every move. Clients before 2026-12-07
 * wrote their cursors there; receipts are `read` events in the segments now. Two members of a head built
 * with core's own functions take turns moving their cursor (core `setReadCursor`); a
 * server's copy receives each move through Automerge's sync, as the server's Repo does.
 * At 1,000, 5,000 and 20,000 moves: the server's receive of one move (mean of the last
 * 200), the head's saved size and load time, and a new device's first sync of it.
 * node --import tsx sync-server/test/measure/head-growth.ts
 */
import { next as A } from '@automerge/automerge'
import { initHead, setReadCursor, type HeadDoc, type ReadEvent } from '@parley/core'

const MEMBERS = ['alice', 'bob']
const STEPS = [1000, 5000, 20_000]
const TIMED = 200

/** Syncs a copy of `head` into an empty document until neither has anything to say; returns the bytes the copy sent. */
function syncFresh(head: A.Doc<HeadDoc>): number {
  let from = A.clone(head)
  let to = A.init<HeadDoc>()
  let fromState = A.initSyncState()
  let toState = A.initSyncState()
  let sent = 0
  for (;;) {
    const [nextFrom, out] = A.generateSyncMessage(from, fromState)
    fromState = nextFrom
    if (out) {
      sent += out.byteLength
      ;[to, toState] = A.receiveSyncMessage(to, toState, out)
    }
    const [nextTo, back] = A.generateSyncMessage(to, toState)
    toState = nextTo
    if (back) [from, fromState] = A.receiveSyncMessage(from, fromState, back)
    if (!out && !back) return sent
  }
}

let reader = A.change(A.init<HeadDoc>(), doc => initHead(doc, { kind: 'group', title: '', creator: 'alice', members: MEMBERS, at: 1, firstSegment: 'segment' }))
let server = A.clone(reader)
let readerState = A.initSyncState()
let serverState = A.initSyncState()
let moves = 0
for (const upTo of STEPS) {
  let receiveMs = 0
  for (; moves < upTo; moves++) {
    const author = MEMBERS[moves % MEMBERS.length]!
    const receipt: ReadEvent = { id: `read-${moves}`.padEnd(16, '0'), type: 'read', target: `message-${moves}`.padEnd(16, '0'), author, device: `device-${author}`.padEnd(16, '0'), at: 1_733_500_000_000 + moves }
    reader = A.change(reader, doc => setReadCursor(doc, receipt))
    const [nextReader, move] = A.generateSyncMessage(reader, readerState)
    readerState = nextReader
    const start = performance.now()
    ;[server, serverState] = A.receiveSyncMessage(server, serverState, move!)
    if (moves >= upTo - TIMED) receiveMs += performance.now() - start
    const [nextServer, answer] = A.generateSyncMessage(server, serverState)
    serverState = nextServer
    if (answer) [reader, readerState] = A.receiveSyncMessage(reader, readerState, answer)
  }
  const saveStart = performance.now()
  const saved = A.save(server)
  const loadStart = performance.now()
  A.load(saved)
  const syncStart = performance.now()
  const sent = syncFresh(server)
  const done = performance.now()
  console.log(
    `${String(upTo).padStart(6)} moves: receive of one move ${(receiveMs / TIMED).toFixed(2)} ms; saved ${(saved.byteLength / 1024).toFixed(0)} KiB ` +
      `(save ${(loadStart - saveStart).toFixed(0)} ms, load ${(syncStart - loadStart).toFixed(0)} ms); a new device's first sync ${(sent / 1024).toFixed(0)} KiB in ${(done - syncStart).toFixed(0)} ms`,
  )
}
