/**
 * The events a segment gained since the heads the index last saw: Automerge's diff between
 * those heads and now, whose inserts into `events` are the new entries. Only they are
 * parsed (issue 18: indexing must not re-parse whole segments per event). The whole
 * segment is read only when the index has never seen it, or its old heads are not in the
 * document (a snapshot from another replica's history: never in practice).
 */
import { Automerge, decodeHeads, type UrlHeads } from '@automerge/automerge-repo/slim'
import { parseEvent, readString, type Limits, type ParleyEvent, type SegmentDoc } from '@parley/core'

export function sameHeads(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && [...a].sort().join() === [...b].sort().join()
}

function parse(json: string, limits: Limits): ParleyEvent | undefined {
  try {
    return parseEvent(json, limits)
  } catch {
    return undefined // a malformed entry is skipped, as readSegmentEvents does
  }
}

/** Every valid event of the segment, as core's readSegmentEvents reads them, but taking those `known` holds. */
function readWhole(doc: SegmentDoc, limits: Limits, known: (json: string) => ParleyEvent | undefined): ParleyEvent[] {
  const events: ParleyEvent[] = []
  for (const value of doc.events ?? []) {
    const json = readString(value)
    const event = json === undefined ? undefined : (known(json) ?? parse(json, limits))
    if (event) events.push(event)
  }
  return events
}

/** `known`: the event stored as this JSON if it was parsed or written here lately (recent-events.ts), which needs no parse. */
export function eventsSince(
  doc: SegmentDoc,
  since: readonly string[] | undefined,
  now: readonly string[],
  limits: Limits,
  known: (json: string) => ParleyEvent | undefined,
): ParleyEvent[] {
  const before = since && decodeHeads(since as UrlHeads)
  if (!before || !Automerge.hasHeads(doc, before)) return readWhole(doc, limits, known)
  const events: ParleyEvent[] = []
  for (const patch of Automerge.diff(doc, before, decodeHeads(now as UrlHeads))) {
    if (patch.path[0] !== 'events') continue
    if (patch.action === 'put' && patch.path.length === 1) continue // the list itself; its entries come as inserts
    if (patch.action !== 'insert' || patch.path.length !== 2) return readWhole(doc, limits, known)
    for (const value of patch.values) {
      const json = readString(value)
      const event = json === undefined ? undefined : (known(json) ?? parse(json, limits))
      if (event) events.push(event)
    }
  }
  return events
}
