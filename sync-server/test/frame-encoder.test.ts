/**
 * The server's frame encoding (network/frame-encoder.ts): every frame decodes as
 * automerge-repo's own encoding of it does, a change forwarded to many peers included,
 * whose shared fields are encoded once.
 */
import { cbor } from '@automerge/automerge-repo'
import { describe, expect, it } from 'vitest'
import { FrameEncoder } from '../src/network/frame-encoder.ts'

/** What automerge-repo's own encoding of `frame` decodes to (its byte strings decode as Buffers). */
const asRepoEncodes = (frame: object) => cbor.decode(cbor.encode(frame))
const sync = (targetId: string, data: Uint8Array, documentId = 'doc-1') => ({ type: 'sync', senderId: 'server', targetId, documentId, data })

describe('FrameEncoder', () => {
  it('encodes a change sent to many peers so that each frame decodes to that peer’s message', () => {
    const frames = new FrameEncoder()
    const data = new Uint8Array([0x42, 0x01, 0x02, 0x03])
    // Targets whose CBOR length takes one, two and three bytes.
    const targets = ['@alice/laptop', `@bob/${'p'.repeat(40)}`, `@carol/${'é'.repeat(200)}`, '@dave/phone']
    targets.forEach((targetId, i) => {
      const bytes = frames.encode(sync(targetId, data))
      expect(cbor.decode(bytes)).toEqual(asRepoEncodes(sync(targetId, data)))
      // From the second peer on, the shared encoding: a small-map header (cbor-x itself writes map16, b9 00 05).
      expect(bytes[0]).toBe(i === 0 ? 0xb9 : 0xa5)
    })
  })

  it('encodes the shared fields anew when the data, document or sender changes', () => {
    const frames = new FrameEncoder()
    const first = new Uint8Array([1])
    const second = new Uint8Array([1])
    const messages = [sync('@a/1', first), sync('@a/2', first), sync('@a/3', second), sync('@a/4', second, 'doc-2'), { ...sync('@a/5', second, 'doc-2'), senderId: 'other' }]
    for (const message of messages) expect(cbor.decode(frames.encode(message))).toEqual(asRepoEncodes(message))
  })

  it('keeps every field of a frame that is not a plain sync message', () => {
    const frames = new FrameEncoder()
    const data = new Uint8Array([7])
    const ephemeral = { type: 'ephemeral', senderId: 'server', targetId: '@a/1', documentId: 'doc-1', data, count: 3, sessionId: 's' }
    const withExtra = { ...sync('@a/2', data), extra: 'kept' }
    for (const frame of [sync('@a/0', data), ephemeral, withExtra, withExtra]) expect(cbor.decode(frames.encode(frame))).toEqual(asRepoEncodes(frame))
  })
})
