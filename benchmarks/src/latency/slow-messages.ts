/**
 * What each process was doing while the slowest messages travelled:
 *
 *   BENCH_PROFILE_DIR=/tmp/p BENCH_LATENCY_LOG=/tmp/p/log.jsonl npx tsx src/latency.ts --only parley
 *   npx tsx src/latency/slow-messages.ts /tmp/p/log.jsonl 3000 15 server=/tmp/p/CPU…<server pid>… sender=… receiver=…
 *
 * (the log, the warm-up count, how many messages; then label=profile, and gc:label=file for
 * BENCH_GC_LOG's files: a client's garbage collections). V8 stamps a CPU
 * profile's samples with CLOCK_MONOTONIC, the clock the texts carry, so a message's window
 * [sent, sent + latency] picks out each process's samples. Per process it prints the time
 * in the window by stack (the frames of the sample, the innermost last, node's own
 * internals left out), the heaviest first.
 */
import { readFileSync } from 'node:fs'

interface Node {
  id: number
  parent?: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface Profile {
  nodes: Node[]
  startTime: number
  samples: number[]
  timeDeltas: number[]
}

/** A gap between samples longer than this (µs; the default interval is 1 ms) is counted as no CPU. */
const STARVED_US = 3000
const [logFile, warmupArg, countArg, ...profileArgs] = process.argv.slice(2)
const warmup = Number(warmupArg ?? 0)
const count = Number(countArg ?? 15)
const messages = readFileSync(logFile!, 'utf8')
  .trim()
  .split('\n')
  .map(line => JSON.parse(line) as { index: number; sentNs: string; latencyMs: number })
  .filter(message => message.index >= warmup)

const frameName = (node: Node): string => {
  const { functionName, url, lineNumber } = node.callFrame
  const file = url.split('/').slice(-2).join('/')
  return `${functionName || '(anon)'}${file ? ` ${file}:${lineNumber}` : ''}`
}

interface Pause {
  from: number
  ms: number
  kind: number
}
const gcLogs = profileArgs
  .filter(arg => arg.startsWith('gc:'))
  .map(arg => {
    const [label, file] = arg.slice(3).split('=') as [string, string]
    const pauses = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(line => JSON.parse(line) as { startNs: string; ms: number; kind: number })
      .map(({ startNs, ms, kind }): Pause => ({ from: Number(BigInt(startNs) / 1000n), ms, kind }))
    return { label, pauses }
  })
/** Pauses of each GC log that overlap [from, to] (µs). */
const pausesIn = (from: number, to: number) =>
  gcLogs.flatMap(({ label, pauses }) => pauses.filter(pause => pause.from <= to && pause.from + pause.ms * 1000 >= from).map(pause => ({ label, ...pause })))
const KINDS: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weak callbacks' }

const profiles = profileArgs.filter(arg => !arg.startsWith('gc:')).map(arg => {
  const [label, file] = arg.split('=') as [string, string]
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map(node => [node.id, node]))
  for (const node of profile.nodes) for (const child of node.children ?? []) byId.get(child)!.parent = node.id
  const stackOf = new Map<number, string>()
  const stack = (id: number): string => {
    let cached = stackOf.get(id)
    if (cached !== undefined) return cached
    const frames: string[] = []
    for (let node = byId.get(id); node; node = node.parent === undefined ? undefined : byId.get(node.parent)) {
      const url = node.callFrame.url
      if (url.startsWith('node:') || node.callFrame.functionName === '(root)') continue
      frames.push(frameName(node))
    }
    cached = frames.reverse().slice(-6).join(' > ') || frameName(byId.get(id)!)
    stackOf.set(id, cached)
    return cached
  }
  // Sample i is taken at startTime + the sum of the deltas up to it (µs).
  const times: number[] = []
  let t = profile.startTime
  for (const delta of profile.timeDeltas) times.push((t += delta))
  return { label, profile, times, stack }
})

const window = (message: (typeof messages)[number]) => {
  const from = Number(BigInt(message.sentNs) / 1000n)
  return { from, to: from + message.latencyMs * 1000 }
}
const slowest = [...messages].sort((a, b) => b.latencyMs - a.latencyMs).slice(0, count)
if (gcLogs.length > 0) {
  // How often a client's collection stood in a message's way: the slowest against all.
  const share = (list: typeof messages) => {
    const hit = list.filter(message => pausesIn(window(message).from, window(message).to).some(pause => pause.ms >= 1)).length
    return `${hit} of ${list.length} (${((100 * hit) / Math.max(1, list.length)).toFixed(0)} %)`
  }
  console.log(`messages overlapping a client GC pause of 1 ms or more: slowest ${share(slowest)}; all ${share(messages)}`)
}
for (const message of slowest) {
  const { from, to } = window(message)
  console.log(`\n#${message.index}: ${message.latencyMs.toFixed(2)} ms`)
  for (const pause of pausesIn(from, to)) console.log(`  ${pause.label} GC: ${KINDS[pause.kind] ?? pause.kind} ${pause.ms.toFixed(2)} ms`)
  for (const { label, profile, times, stack } of profiles) {
    const byStack = new Map<string, number>()
    let starved = 0
    for (let i = 0; i < times.length; i++) {
      if (times[i]! < from || times[i]! > to) continue
      const delta = profile.timeDeltas[i] ?? 0
      // The profiler samples every millisecond, idle or not: a longer gap is time in which
      // the process got no CPU (a loaded machine), whatever the next sample shows.
      if (delta > STARVED_US) {
        starved += delta
        continue
      }
      const key = stack(profile.samples[i]!)
      // A sample covers the time since the one before it.
      byStack.set(key, (byStack.get(key) ?? 0) + delta)
    }
    const top = [...byStack].sort((a, b) => b[1] - a[1]).slice(0, 4)
    console.log(`  ${label}:${starved > 0 ? ` no CPU for ${(starved / 1000).toFixed(2)} ms (sampling gaps over ${STARVED_US / 1000} ms)` : ''}`)
    for (const [key, us] of top) console.log(`    ${(us / 1000).toFixed(2).padStart(7)} ms  ${key}`)
  }
}
