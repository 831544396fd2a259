/**
 * CPU per decoded change as the relay core's ingress decodes a client's message (one
 * Parley event appended to a segment): access/change-decode.ts in JavaScript against
 * Automerge's decodeChange, in a process warmed up first, cold (the first 200 calls) and
 * warm.
 * node --import tsx sync-server/test/measure/change-decode.ts
 */
import * as A from '@automerge/automerge'
import { createHash } from 'node:crypto'
import { decodeChangeChunk } from '../../src/access/change-decode.ts'

let doc = A.from<{ events: string[] }>({ events: [] })
const changes: Uint8Array[] = []
for (let i = 0; i < 500; i++) {
  const event = { id: `01JF${i}`.padEnd(26, 'X'), type: 'message', conversation: 'c'.repeat(26), author: 'alice', device: 'd'.repeat(22), at: '2026-12-05T09:00:00.000Z-0000', text: `message number ${i}, about a hundred bytes of text as in the latency benchmark` }
  doc = A.change(doc, d => void d.events.push(JSON.stringify(event)))
  changes.push(A.getLastLocalChange(doc)!)
}
const hashes = changes.map(chunk => createHash('sha256').update(chunk.subarray(8)).digest('hex'))

function measure(label: string, calls: number, decode: (i: number) => unknown): void {
  const start = process.cpuUsage()
  for (let i = 0; i < calls; i++) decode(i % changes.length)
  const used = process.cpuUsage(start)
  console.log(`${label.padEnd(30)} ${((used.user + used.system) / calls).toFixed(2)} µs CPU per change`)
}

measure('JavaScript, first 200 calls', 200, i => decodeChangeChunk(changes[i]!, hashes[i]!))
measure('Automerge, first 200 calls', 200, i => A.decodeChange(changes[i]!))
measure('JavaScript, warm', 50_000, i => decodeChangeChunk(changes[i]!, hashes[i]!))
measure('Automerge, warm', 50_000, i => A.decodeChange(changes[i]!))
