/** Random Automerge histories for the relay's tests: several actors writing and merging. */
import { next as A } from '@automerge/automerge'
import fc from 'fast-check'

export type Doc = A.Doc<{ events?: string[] }>

/** One step of a history: actor `actor` writes, or merges everything actor `from` has. */
export type Step = { kind: 'write'; actor: number; size: number } | { kind: 'merge'; actor: number; from: number }

export const stepArbitrary = (actors: number): fc.Arbitrary<Step> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('write' as const), actor: fc.nat(actors - 1), size: fc.integer({ min: 1, max: 40 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('merge' as const), actor: fc.nat(actors - 1), from: fc.nat(actors - 1) }) },
  )

export function actorId(n: number): string {
  return (n + 1).toString(16).padStart(2, '0').repeat(16)
}

/** A change with a fixed time, so the same history gives the same hashes in every run. */
export function write(doc: Doc, label: string, size = 1): Doc {
  return A.change(doc, { time: 0 }, d => {
    d.events ??= []
    d.events.push(label + 'x'.repeat(size))
  })
}

/** Plays the steps; returns each actor's document. */
export function play(actors: number, steps: readonly Step[]): Doc[] {
  const docs: Doc[] = Array.from({ length: actors }, (_, i) => A.init({ actor: actorId(i) }))
  steps.forEach((step, i) => {
    if (step.kind === 'write') docs[step.actor] = write(docs[step.actor]!, `${step.actor}:${i}`, step.size)
    else if (step.actor !== step.from) docs[step.actor] = A.merge(docs[step.actor]!, A.clone(docs[step.from]!))
  })
  return docs
}

/** Every change of the docs, deduplicated, in an order where deps come first. */
export function allChanges(docs: readonly Doc[]): Uint8Array[] {
  const seen = new Set<string>()
  const out: Uint8Array[] = []
  for (const doc of docs) {
    for (const change of A.getAllChanges(doc)) {
      const hash = A.decodeChange(change).hash
      if (seen.has(hash)) continue
      seen.add(hash)
      out.push(change)
    }
  }
  return out
}

export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

/** Two writers alternating, each change depending on the other's last: a ladder. */
export function ladder(length: number): { docs: [Doc, Doc]; changes: Uint8Array[] } {
  let a: Doc = A.init({ actor: actorId(0) })
  let b: Doc = A.init({ actor: actorId(1) })
  const changes: Uint8Array[] = []
  for (let i = 0; i < length; i++) {
    if (i % 2 === 0) {
      const next = write(a, `a${i}`)
      changes.push(A.getLastLocalChange(next)!)
      a = next
      b = A.applyChanges(b, [changes.at(-1)!])[0]
    } else {
      const next = write(b, `b${i}`)
      changes.push(A.getLastLocalChange(next)!)
      b = next
      a = A.applyChanges(a, [changes.at(-1)!])[0]
    }
  }
  return { docs: [a, b], changes }
}
