/**
 * CPU per outbound frame when one change is forwarded to many peers: automerge-repo's
 * `cbor.encode` (a new cbor-x Encoder per frame, every field encoded per peer) against the
 * server's FrameEncoder (network/frame-encoder.ts: one encoder; the shared fields
 * encoded once per forward). A ~500-byte sync message to 1,000 peers, 200 times.
 * node --import tsx sync-server/test/measure/frame-encoding.ts
 */
import { cbor } from '@automerge/automerge-repo'
import { encodeFrame, FrameEncoder } from '../../src/network/frame-encoder.ts'

const PEERS = Array.from({ length: 1000 }, (_, i) => `@member-${i}/${'d'.repeat(21)}${i}`)
const FORWARDS = 200

function measure(label: string, encode: (frame: object) => Uint8Array): void {
  let bytes = 0
  const run = () => {
    for (let f = 0; f < FORWARDS; f++) {
      const data = new Uint8Array(500).fill(f)
      for (const targetId of PEERS) bytes += encode({ type: 'sync', senderId: 'server-peer-id', targetId, documentId: '2Ef3xXSRe9wbVTq1Q7CZbNPeAbz9', data }).byteLength
    }
  }
  run() // warm-up
  const start = process.cpuUsage()
  run()
  const used = process.cpuUsage(start)
  console.log(`${label.padEnd(36)} ${((used.user + used.system) / (FORWARDS * PEERS.length)).toFixed(2)} µs CPU per frame (${bytes} bytes)`)
}

const frames = new FrameEncoder()
for (let round = 0; round < 3; round++) {
  measure('automerge-repo cbor.encode', frame => cbor.encode(frame))
  measure('one Encoder, every field per frame', encodeFrame)
  measure('FrameEncoder', frame => frames.encode(frame))
}
