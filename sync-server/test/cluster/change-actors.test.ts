import { next as Automerge } from '@automerge/automerge'
import { deflateRawSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { changeActors } from '../../src/cluster/change-actors.ts'

describe('changeActors', () => {
  const alice = 'aa'.repeat(16)
  const bob = 'bb'.repeat(16)
  let doc = Automerge.change(Automerge.init<{ text?: string; list?: string[] }>({ actor: alice }), d => (d.list = ['a']))
  doc = Automerge.merge(doc, Automerge.change(Automerge.clone(doc, { actor: bob }), d => d.list!.push('b')))

  /** The same change as a compressed chunk (type 2, raw-DEFLATE body), as Automerge may send one. */
  function compressed(change: Uint8Array): Uint8Array {
    let offset = 9
    let length = 0
    for (let shift = 0; ; shift += 7) {
      const byte = change[offset++]!
      length += (byte & 0x7f) * 2 ** shift
      if ((byte & 0x80) === 0) break
    }
    const body = deflateRawSync(change.subarray(offset, offset + length))
    const uleb: number[] = []
    for (let n = body.length; ; ) {
      const byte = n & 0x7f
      n = Math.floor(n / 128)
      uleb.push(n > 0 ? byte | 0x80 : byte)
      if (n === 0) break
    }
    return Buffer.concat([change.subarray(0, 8), Buffer.from([2, ...uleb]), body])
  }

  it('reads the actor of each change, plain or compressed, as Automerge decodes it', () => {
    const changes = Automerge.getAllChanges(doc)
    expect(changeActors(changes)).toEqual(new Set(changes.map(change => Automerge.decodeChange(change).actor)))
    expect(changeActors(changes)).toEqual(new Set([alice, bob]))
    expect(changeActors([compressed(changes[1]!)])).toEqual(new Set([bob]))
  })

  it('refuses a compressed change that inflates past the decode budget, without inflating it all', () => {
    // 2 bytes of header (no deps, a 1-byte actor), then 64 MiB of zeros: about 64 KB deflated.
    const inflated = Buffer.alloc(64 * 1024 * 1024)
    inflated[0] = 0
    inflated[1] = 1
    inflated[2] = 0xab
    const body = deflateRawSync(inflated)
    const uleb: number[] = []
    for (let n = body.length; ; ) {
      const byte = n & 0x7f
      n = Math.floor(n / 128)
      uleb.push(n > 0 ? byte | 0x80 : byte)
      if (n === 0) break
    }
    const bomb = Buffer.concat([Buffer.from([0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2, ...uleb]), body])
    expect(bomb.length).toBeLessThan(128 * 1024)
    expect(() => changeActors([bomb])).toThrow(/inflates to more than 4194304 bytes/)
  })

  it('reads every actor of a whole saved document, and of several chunks in one blob', () => {
    expect(changeActors([Automerge.save(doc)])).toEqual(new Set([alice, bob]))
    expect(changeActors([Buffer.concat(Automerge.getAllChanges(doc))])).toEqual(new Set([alice, bob]))
  })

  it('throws on bytes that are not chunks', () => {
    expect(() => changeActors([new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])])).toThrow(/not an Automerge chunk/)
  })
})
