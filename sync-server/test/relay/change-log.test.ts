import { next as A } from '@automerge/automerge'
import fc from 'fast-check'
import { deflateRawSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { Reader } from '../../src/access/chunk-format.ts'
import { ChangeChunkError, encodeUleb, parseChangeChunk } from '../../src/relay/change-chunk.ts'
import { ChangeLog } from '../../src/relay/change-log.ts'
import { allChanges, concatBytes, ladder, play, stepArbitrary, write, actorId, type Doc } from './histories.ts'

function ancestorsOf(heads: readonly string[], byHash: Map<string, string[]>): Set<string> {
  const seen = new Set<string>()
  const stack = [...heads]
  while (stack.length > 0) {
    const hash = stack.pop()!
    if (seen.has(hash) || !byHash.has(hash)) continue
    seen.add(hash)
    stack.push(...byHash.get(hash)!)
  }
  return seen
}

describe('parseChangeChunk', () => {
  it('reads what Automerge.decodeChange reads, for every change of random histories', () => {
    fc.assert(
      fc.property(fc.array(stepArbitrary(3), { maxLength: 30 }), steps => {
        for (const change of allChanges(play(3, steps))) {
          const decoded = A.decodeChange(change)
          const meta = parseChangeChunk(change)
          expect(meta).toEqual({ hash: decoded.hash, deps: decoded.deps, actor: decoded.actor, seq: decoded.seq })
        }
      }),
      { numRuns: 30 },
    )
  })

  it('reads a deflated change chunk under the hash of its uncompressed form', () => {
    const doc = write(A.init({ actor: actorId(0) }), 'big', 2000)
    const change = A.getLastLocalChange(doc)!
    const header = new Reader(change, 9)
    header.uleb()
    const deflated = deflateRawSync(change.subarray(header.offset))
    const compressed = new Uint8Array([...change.subarray(0, 8), 2, ...encodeUleb(deflated.length), ...deflated])
    expect(parseChangeChunk(compressed)).toEqual(parseChangeChunk(change))
    expect(A.decodeChange(compressed).hash).toBe(parseChangeChunk(change).hash)
  })

  it('refuses a flipped byte, trailing bytes, a truncated chunk and a document chunk', () => {
    const doc = write(A.init({ actor: actorId(0) }), 'x')
    const change = A.getLastLocalChange(doc)!
    const flipped = change.slice()
    flipped[flipped.length - 3]! ^= 1
    expect(() => parseChangeChunk(flipped)).toThrow(/checksum/)
    expect(() => parseChangeChunk(concatBytes([change, new Uint8Array([0])]))).toThrow(ChangeChunkError)
    expect(() => parseChangeChunk(change.subarray(0, change.length - 1))).toThrow(ChangeChunkError)
    expect(() => parseChangeChunk(A.save(doc))).toThrow(/not a change/)
    expect(() => parseChangeChunk(new Uint8Array(3))).toThrow(ChangeChunkError)
  })
})

describe('ChangeLog', () => {
  it('appends idempotently by hash and tracks heads like Automerge', () => {
    const { docs, changes } = ladder(20)
    const log = new ChangeLog()
    expect(log.append(changes).accepted).toHaveLength(20)
    expect(log.append(changes).accepted).toHaveLength(0)
    expect(log.size).toBe(20)
    expect(log.heads()).toEqual(A.getHeads(docs[0]))
    expect(log.hasHash(A.getHeads(docs[0])[0]!)).toBe(true)
    expect(log.hasHash('00'.repeat(32))).toBe(false)
  })

  it('takes the headers a caller read already instead of reading those chunks again', () => {
    const { docs, changes } = ladder(6)
    let parsed = 0
    const log = new ChangeLog({ parse: bytes => (parsed++, parseChangeChunk(bytes)) })
    const known = new Map(changes.slice(0, 4).map(bytes => [bytes, parseChangeChunk(bytes)]))
    expect(log.append(changes, known).accepted).toHaveLength(6)
    expect(parsed).toBe(2)
    expect(log.heads()).toEqual(A.getHeads(docs[0]))
  })

  it('keeps only the header of a change handed over whole (the ingress check hands decoded changes, operations and all)', () => {
    const { changes } = ladder(2)
    const known = new Map(changes.map(bytes => [bytes, { ...A.decodeChange(bytes), ...parseChangeChunk(bytes) }]))
    const log = new ChangeLog()
    for (const change of log.append(changes, known).accepted) expect(Object.keys(change).sort()).toEqual(['actor', 'bytes', 'deps', 'hash', 'index', 'seq'])
  })

  it('holds changes whose deps are missing until they arrive, then loads as a document', () => {
    fc.assert(
      fc.property(fc.array(stepArbitrary(3), { maxLength: 40 }), fc.infiniteStream(fc.nat()), (steps, randoms) => {
        const docs = play(3, steps)
        const changes = allChanges(docs)
        // shuffle: deps arrive in any order
        const shuffled = changes.map(c => [randoms.next().value, c] as const).sort((a, b) => a[0] - b[0]).map(([, c]) => c)
        const log = new ChangeLog()
        for (const change of shuffled) log.append([change])
        expect(log.size).toBe(changes.length)
        expect(log.pendingCount).toBe(0)
        expect(log.missingDeps()).toEqual([])
        const merged = docs.reduce((a, b) => A.merge(a, A.clone(b)), A.init() as Doc)
        expect(log.heads()).toEqual(A.getHeads(merged))
        expect(A.getHeads(A.load(log.concat()))).toEqual(A.getHeads(merged))
      }),
      { numRuns: 40 },
    )
  })

  it('reports missing deps and bounds what it holds, oldest dropped first', () => {
    const { changes } = ladder(6)
    const log = new ChangeLog({ maxPendingChanges: 2 })
    const result = log.append([changes[3]!, changes[4]!, changes[5]!])
    expect(result.pending).toHaveLength(3)
    expect(result.dropped).toEqual([parseChangeChunk(changes[3]!).hash])
    expect(log.pendingCount).toBe(2)
    // the dropped change is now one of what the held ones wait for
    expect(log.missingDeps()).toEqual([changes[2]!, changes[3]!].map(c => parseChangeChunk(c).hash).sort())
    expect(log.missingDeps(['ff'.repeat(32)])).toContain('ff'.repeat(32))
    log.append(changes.slice(0, 4))
    expect(log.size).toBe(6)
    expect(log.pendingCount).toBe(0)
  })

  it('rejects a malformed chunk and a repeated seq, and drops what waited on it', () => {
    const base = write(A.init({ actor: actorId(0) }), 'a')
    const fork1 = write(base, 'b')
    const fork2 = write(A.clone(base, { actor: actorId(0) }), 'c') // same actor, same seq 2: Automerge refuses the second
    const fork2Change = A.getLastLocalChange(fork2)!
    const after = write(fork2, 'd')
    const log = new ChangeLog()
    log.append(A.getAllChanges(fork1))
    const waiting = log.append([A.getLastLocalChange(after)!])
    expect(waiting.pending).toHaveLength(1)
    const result = log.append([fork2Change, new Uint8Array([1, 2, 3])])
    expect(result.rejected.map(r => r.reason).sort()).toEqual(['malformed', 'seq'])
    expect(result.dropped).toEqual(waiting.pending)
    expect(log.pendingCount).toBe(0)
    expect(A.getHeads(A.load(log.concat()))).toEqual(A.getHeads(fork1))
  })

  it('refuses a whole document in place of changes unless told how to expand it, and splits concatenated chunks', () => {
    const { docs, changes } = ladder(4)
    const saved = A.save(docs[0])
    const refused = new ChangeLog().append([saved])
    expect(refused.rejected.map(r => r.reason)).toEqual(['document'])
    const expanding = new ChangeLog({ expandDocument: bytes => A.getAllChanges(A.load(bytes)) })
    expect(expanding.append([saved]).accepted).toHaveLength(4)
    const concatenated = new ChangeLog()
    expect(concatenated.append([concatBytes(changes)]).accepted.map(c => c.bytes)).toEqual(changes)
  })

  it('changesSince(H) is exactly the changes that are not ancestors of H, in log order', () => {
    fc.assert(
      fc.property(fc.array(stepArbitrary(4), { maxLength: 50 }), fc.nat(3), (steps, who) => {
        const docs = play(4, steps)
        const log = new ChangeLog()
        log.append(allChanges(docs))
        const graph = new Map(log.changes().map(c => [c.hash, [...c.deps]]))
        for (const heads of [A.getHeads(docs[who]!), [], log.heads(), ['ab'.repeat(32)]]) {
          const ancestors = ancestorsOf(heads, graph)
          const expected = log.changes().filter(c => !ancestors.has(c.hash)).map(c => c.hash)
          expect(log.changesSince(heads).map(c => c.hash)).toEqual(expected)
        }
      }),
      { numRuns: 60 },
    )
  })

  it('changesSince from a recent head of a long ladder returns only the changes after it', () => {
    const { changes } = ladder(2000)
    const log = new ChangeLog()
    log.append(changes)
    const near = parseChangeChunk(changes[1997]!).hash
    expect(log.changesSince([near]).map(c => c.index)).toEqual([1998, 1999])
  })
})
