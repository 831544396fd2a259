/**
 * ResilientDatabase (storage/resilient-database.ts) writes what is issued in one turn of
 * the event loop, or while a write is out, as one LevelDB batch, in the order issued: one
 * thread-pool hand-over for a round of writes instead of one each. A range deletion among
 * them is applied in its place.
 */
import { describe, expect, it } from 'vitest'
import { ResilientDatabase, type KeyRange, type ReopenableLevel, type WriteOp } from '../../src/storage/resilient-database.ts'

/** A LevelDB stand-in that records each write call and holds it until released. */
function recordingLevel() {
  const data = new Map<string, Uint8Array>()
  const calls: string[][] = []
  const waiting: (() => void)[] = []
  const held = () => new Promise<void>(resolve => waiting.push(resolve))
  const inRange = (key: string, range: KeyRange) => (range.gte === undefined || key >= range.gte) && (range.lt === undefined || key < range.lt)
  const level: ReopenableLevel = {
    status: 'open',
    open: async () => {},
    close: async () => {},
    get: async key => data.get(key),
    put: async (key, value) => {
      calls.push([`put ${key}`])
      await held()
      data.set(key, value)
    },
    del: async key => {
      calls.push([`del ${key}`])
      await held()
      data.delete(key)
    },
    batch: async (ops: WriteOp[]) => {
      calls.push(ops.map(op => `${op.type} ${op.key}`))
      await held()
      for (const op of ops) op.type === 'put' ? data.set(op.key, op.value) : data.delete(op.key)
    },
    clear: async range => {
      calls.push([`clear ${range.gte}`])
      await held()
      for (const key of [...data.keys()]) if (inRange(key, range)) data.delete(key)
    },
    iterator: () => {
      throw new Error('not used')
    },
  }
  const release = async () => {
    while (waiting.length > 0) {
      for (const go of waiting.splice(0)) go()
      await new Promise(resolve => setTimeout(resolve, 5))
    }
  }
  return { level, data, calls, release }
}

describe('ResilientDatabase writes', () => {
  it('writes what is issued in one turn, then what is issued while that write is out, as one batch each, in the order issued, a range deletion in its place', async () => {
    const { level, data, calls, release } = recordingLevel()
    const db = new ResilientDatabase(level, { dir: '/nonexistent', retryMs: 1000, maxHeldBytes: 1 << 20 })
    const value = new Uint8Array([1])
    // A message's change and its numbering: issued in the same turn, written together at its end.
    const turn = [db.put('a', value), db.batch([{ type: 'put', key: 'n:1', value }, { type: 'put', key: 'n:last', value }])]
    expect(calls).toEqual([])
    await new Promise(resolve => setImmediate(resolve))
    expect(calls).toEqual([['put a', 'put n:1', 'put n:last']])
    const rest = [db.batch([{ type: 'put', key: 'b', value }, { type: 'put', key: 'c:1', value }]), db.put('c:2', value), db.del('a'), db.clear({ gte: 'c:', lt: 'c;' }), db.put('c:3', value)]
    await release()
    await Promise.all([...turn, ...rest])
    // The five issued while the first write was out in one round: a batch up to the clear, the clear, then the rest.
    expect(calls).toEqual([['put a', 'put n:1', 'put n:last'], ['put b', 'put c:1', 'put c:2', 'del a'], ['clear c:'], ['put c:3']])
    expect([...data.keys()].sort()).toEqual(['b', 'c:3', 'n:1', 'n:last'])
    await db.close()
  })
})
