/**
 * npm run bench:client-cost [-- --quick] [-- --segment-size N] [-- --loaded N]
 *
 * The client library's CPU per message (issue 15, item 5): a real `parley-server`
 * (relay core, unthrottled: latency/systems/parley.ts) and two real `@parley/client` processes on LevelDB, one
 * message at a time, each waiting until the other client's timeline shows it. Each
 * client reports process.cpuUsage, read at the start and end of windows of consecutive
 * messages, so a window's CPU over its message count is that client's CPU per message:
 *
 * - by events already loaded: windows at messages 0, 500 and 2,000 (positions 0–99 of
 *   a segment at 0 and 2,000; every segment stays loaded in both clients);
 * - by position in a segment: its last 100 events (900–999 with SEGMENT_SIZE 1,000)
 *   against the first 100 of the next, about as many events loaded in both;
 * - every message of the run, which averages over positions: the figure to compare
 *   segment sizes by (`--segment-size N` sets the clients' segmentSize option).
 *
 * Two patterns: one-way (alice sends, bob receives: the sender's and the receiver's CPU
 * apart) and alternating (alice and bob take turns, as in a conversation: every change
 * depends on the other writer's last one, the history Automerge's cost grows with; the
 * figure is both clients' CPU together per message). Last, the timeline work alone, in
 * this process: folding every loaded event again against core's Timeline.
 */
import { SEGMENT_SIZE } from '@parley/core'
import { loadavg } from 'node:os'
import { SignJWT } from 'jose'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { QUICK } from './lib/args.ts'
import { forkWorker, freePort, nextMessage, spawnServer, stop, withTimeout } from './lib/processes.ts'
import { renderTable, writeResults } from './lib/results.ts'
import { parley } from './latency/systems/parley.ts'
import { projectionCost } from './client-cost/projection.ts'

const SECRET = 'benchmark-secret-not-for-production'
const WORKER = fileURLToPath(new URL('./client-cost/worker.ts', import.meta.url))
const TIMEOUT_MS = 15_000
/** Messages per measured window; --quick measures shorter windows at the same places. */
const WINDOW = QUICK ? 40 : 100
/** `--segment-size N`: the clients' segmentSize option (default core's SEGMENT_SIZE), to compare sizes. */
const SIZE = process.argv.includes('--segment-size') ? Number(process.argv[process.argv.indexOf('--segment-size') + 1]) : SEGMENT_SIZE
/** `--loaded N` adds a window with N events loaded; the gap up to it is filled in bursts. */
const FAR = process.argv.includes('--loaded') ? Number(process.argv[process.argv.indexOf('--loaded') + 1]) : undefined
const LOADED = [0, 500, 2000, ...(FAR ? [FAR] : [])]
const WINDOWS = [...new Set([...LOADED, SIZE - WINDOW, SIZE])]
  .sort((a, b) => a - b)
  .filter((start, i, starts) => i === 0 || start >= starts[i - 1]! + WINDOW)
  .map(start => ({ start, end: start + WINDOW }))
/** Messages sent in a separate conversation before the measured one starts. */
const WARMUP = QUICK ? 100 : 300
/** Other work on the machine inflates every figure: the section says how busy it was. */
const LOAD_AT_START = loadavg()[0]!.toFixed(1)
/** --quick fills the gaps between windows in bursts of this many messages per writer. */
const FILL_BURST = 25
type Pattern = 'one-way' | 'alternating'
const PATTERNS: Pattern[] = ['one-way', 'alternating']

interface WindowResult {
  start: number
  end: number
  /** CPU ms per message of the client that sent (one-way) or of both together (alternating). */
  aliceMs: number
  bobMs: number
  /** Wall ms from the send order to the other client's timeline showing it. */
  roundMs: number
}

const token = (user: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))

async function cpuMs(worker: ChildProcess): Promise<number> {
  const reading = nextMessage<{ user: number; system: number }>(worker, 'cpu')
  worker.send({ type: 'cpu' })
  const { user, system } = await withTimeout(reading, 'a CPU reading', TIMEOUT_MS)
  return (user + system) / 1000
}

/** [sender, receiver] of message `index`. */
function senderOf(pattern: Pattern, index: number, alice: ChildProcess, bob: ChildProcess): [ChildProcess, ChildProcess] {
  return pattern === 'alternating' && index % 2 === 1 ? [bob, alice] : [alice, bob]
}

/** Resolves once `receiver`'s timeline shows message `index`; rejects if it shows a later one first. */
function untilShown(receiver: ChildProcess, index: number): Promise<void> {
  const shown = new Promise<void>((resolve, reject) => {
    const onMessage = (message: { type: string; index?: number }) => {
      if (message.type !== 'got' || message.index! < index) return
      receiver.off('message', onMessage)
      if (message.index === index) resolve()
      else reject(new Error(`expected message ${index}, the timeline showed ${message.index}`))
    }
    receiver.on('message', onMessage)
  })
  return withTimeout(shown, `message ${index}`, TIMEOUT_MS)
}

/**
 * Sends the messages between windows, from `from` up to `to`: one at a time as in a
 * window, or with --quick (and for a gap of over 1,000, --loaded) in bursts of FILL_BURST from one writer at a time (alternating
 * writers take turns by burst), each burst shown to the other client before the next.
 */
async function fill(pattern: Pattern, alice: ChildProcess, bob: ChildProcess, from: number, to: number): Promise<number> {
  const step = QUICK || to - from > 1000 ? FILL_BURST : 1
  for (let index = from; index < to; index += step) {
    const count = Math.min(step, to - index)
    const [sender, receiver] = senderOf(pattern, Math.floor(index / step), alice, bob)
    const shown = untilShown(receiver, index + count - 1)
    sender.send(count === 1 ? { type: 'send', index } : { type: 'burst', from: index, count })
    await shown
  }
  return to
}

async function startConversation(alice: ChildProcess, bob: ChildProcess): Promise<void> {
  alice.send({ type: 'create', member: 'bob' })
  const { id } = await withTimeout(nextMessage<{ id: string }>(alice, 'created'), 'the conversation', 60_000)
  bob.send({ type: 'open', id })
  await withTimeout(nextMessage(bob, 'ready'), 'bob to open it', TIMEOUT_MS)
}

async function run(pattern: Pattern): Promise<WindowResult[]> {
  const port = await freePort()
  const dataDir = await mkdtemp(join(tmpdir(), 'parley-bench-client-cost-'))
  const { command, args } = parley.serverCommand(port, join(dataDir, 'server'), SECRET)
  let server: ChildProcess | undefined
  const workers: ChildProcess[] = []
  try {
    server = await spawnServer(command, args)
    const url = `ws://127.0.0.1:${port}/sync`
    const alice = forkWorker(WORKER, [url, await token('alice'), join(dataDir, 'alice'), String(SIZE)])
    const bob = forkWorker(WORKER, [url, await token('bob'), join(dataDir, 'bob'), String(SIZE)])
    workers.push(alice, bob)
    await withTimeout(Promise.all([nextMessage(alice, 'connected'), nextMessage(bob, 'connected')]), 'clients to start', TIMEOUT_MS)
    // Warm-up in a conversation of its own, so the measured one starts empty with the code already compiled.
    await startConversation(alice, bob)
    await fill(pattern, alice, bob, 0, WARMUP)
    await startConversation(alice, bob)

    const results: WindowResult[] = []
    const first = { alice: await cpuMs(alice), bob: await cpuMs(bob), wall: performance.now() }
    let index = 0
    for (const window of WINDOWS) {
      index = await fill(pattern, alice, bob, index, window.start)
      const start = { alice: await cpuMs(alice), bob: await cpuMs(bob), wall: performance.now() }
      for (; index < window.end; index++) {
        const [from, to] = senderOf(pattern, index, alice, bob)
        const shown = untilShown(to, index)
        from.send({ type: 'send', index })
        await shown
      }
      const count = window.end - window.start
      const wall = (performance.now() - start.wall) / count
      results.push({ ...window, aliceMs: ((await cpuMs(alice)) - start.alice) / count, bobMs: ((await cpuMs(bob)) - start.bob) / count, roundMs: wall })
    }
    // Every message of the run (with --quick or --loaded, the bursts between windows too).
    const total = WINDOWS.at(-1)!.end
    results.push({ start: 0, end: total, aliceMs: ((await cpuMs(alice)) - first.alice) / total, bobMs: ((await cpuMs(bob)) - first.bob) / total, roundMs: (performance.now() - first.wall) / total })
    for (const worker of workers) worker.send({ type: 'close' })
    return results
  } finally {
    await Promise.all([...workers.map(stop), stop(server)])
    await rm(dataDir, { recursive: true, force: true })
  }
}

const fixed = (value: number) => value.toFixed(2)
const label = (w: WindowResult) => (w.start === 0 && w.end === WINDOWS.at(-1)!.end ? `all ${w.end}` : `${w.start}–${w.end - 1}`)
const loaded = (w: WindowResult) => (label(w).startsWith('all') ? '0–' + (w.end - 1) : `~${w.start}`)
const position = (w: WindowResult) => (label(w).startsWith('all') ? 'all' : `${w.start % SIZE}–${(w.end - 1) % SIZE}`)
const data = {} as Record<Pattern, WindowResult[]>
for (const pattern of PATTERNS) {
  process.stderr.write(`client-cost: ${pattern}, ${WINDOWS.at(-1)!.end} messages, windows of ${WINDOW}, segments of ${SIZE}…\n`)
  data[pattern] = await run(pattern)
}
process.stderr.write('client-cost: timeline work per message in process…\n')
const projection = [0, 500, 2000, 10_000].map(count => projectionCost(count, QUICK ? 100 : 300))

const oneWay = renderTable({
  headers: ['messages', 'events loaded', 'segment positions', 'sender CPU ms/msg', 'receiver CPU ms/msg', 'wall ms/msg'],
  rows: data['one-way'].map(w => [label(w), loaded(w), position(w), fixed(w.aliceMs), fixed(w.bobMs), fixed(w.roundMs)]),
})
const alternating = renderTable({
  headers: ['messages', 'events loaded', 'segment positions', 'both clients CPU ms/msg', 'alice', 'bob', 'wall ms/msg'],
  rows: data.alternating.map(w => [label(w), loaded(w), position(w), fixed(w.aliceMs + w.bobMs), fixed(w.aliceMs), fixed(w.bobMs), fixed(w.roundMs)]),
})
const timelineTable = renderTable({
  headers: ['events loaded', 'project every loaded event ms/msg (the SDK before Timeline)', 'Timeline.add + items() ms/msg', 'ratio'],
  rows: projection.map(p => [p.loaded, p.projectAllMs.toFixed(3), p.timelineMs.toFixed(4), `${(p.projectAllMs / Math.max(p.timelineMs, 0.0001)).toFixed(0)}×`]),
})
const at = (pattern: Pattern, start: number) => data[pattern].find(w => w.start === start && w.end === start + WINDOW)
const both = (w: WindowResult) => w.aliceMs + w.bobMs
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`
const late = SIZE - WINDOW
const ratios: string[] = []
const [none, many, mid] = [at('one-way', 0), at('one-way', 2000), at('one-way', 500)]
if (none && many && mid) ratios.push(`- One-way, ~2,000 events loaded vs ~0: sender ${ratio(many.aliceMs, none.aliceMs)}, receiver ${ratio(many.bobMs, none.bobMs)}; ~500 vs ~0: sender ${ratio(mid.aliceMs, none.aliceMs)}, receiver ${ratio(mid.bobMs, none.bobMs)}.`)
const [endOne, startNext] = [at('one-way', late), at('one-way', SIZE)]
if (endOne && startNext) ratios.push(`- One-way, positions ${late}–${SIZE - 1} vs 0–${WINDOW - 1} of the next segment: sender ${ratio(endOne.aliceMs, startNext.aliceMs)}, receiver ${ratio(endOne.bobMs, startNext.bobMs)}.`)
const [aNone, aMany, aEnd, aNext] = [at('alternating', 0), at('alternating', 2000), at('alternating', late), at('alternating', SIZE)]
if (aNone && aMany) ratios.push(`- Alternating, both clients: ~2,000 loaded vs ~0 ${ratio(both(aMany), both(aNone))}.`)
if (aEnd && aNext) ratios.push(`- Alternating, both clients: positions ${late}–${SIZE - 1} vs 0–${WINDOW - 1} of the next segment ${ratio(both(aEnd), both(aNext))}.`)
const big = projection.at(-1)!
ratios.push(`- In process, one new message with ${big.loaded} events loaded: projecting them all ${big.projectAllMs.toFixed(2)} ms, the Timeline ${big.timelineMs.toFixed(4)} ms.`)

const sizeFlag = `${SIZE === SEGMENT_SIZE ? '' : ` --segment-size ${SIZE}`}${FAR ? ` --loaded ${FAR}` : ''}`
const command = `npm run bench:client-cost${QUICK || sizeFlag ? ' --' : ''}${QUICK ? ' --quick' : ''}${sizeFlag}`
const text = [`one-way\n${oneWay}`, `alternating\n${alternating}`, `timeline work per new message (in process)\n${timelineTable}`, ratios.join('\n')].join('\n\n')
console.log(`\n${text}\n`)
const json = await writeResults(
  `client-cost${SIZE === SEGMENT_SIZE ? '' : `-${SIZE}`}${FAR ? `-loaded-${FAR}` : ''}`,
  command,
  { window: WINDOW, segmentSize: SIZE, ...data, projection },
  `The client library's CPU per message (process.cpuUsage in each client process, user + system, IPC orders included): a real \`parley-server\` (relay core, unthrottled) and two \`@parley/client\` processes on LevelDB, one ~100-byte message at a time, each waiting until the other client's timeline shows it; windows of ${WINDOW} consecutive messages${QUICK ? ` (between windows, bursts of ${FILL_BURST} messages per writer)` : FAR ? ` (up to the ${FAR} window, bursts of ${FILL_BURST} messages per writer)` : ''}, and all messages of the run; segments of ${SIZE} events (SEGMENT_SIZE ${SEGMENT_SIZE}); every segment stays loaded in both clients. Load average ${LOAD_AT_START} at the start, ${loadavg()[0]!.toFixed(1)} at the end (the machine is shared: CPU per message grows with it).\n\nOne-way (alice sends, bob receives):\n\n${oneWay}\n\nAlternating (alice and bob take turns; CPU of both clients per message):\n\n${alternating}\n\nThe timeline work alone, per new message, in this process (a two-writer conversation, every tenth event a reaction):\n\n${timelineTable}\n\n${ratios.join('\n')}`,
)
console.log(`wrote ${json} and RESULTS.md`)
process.exit(0)
