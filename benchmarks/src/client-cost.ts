/**
 * npm run bench:client-cost [-- --quick]
 *
 * The client library's CPU per message (issue 15, item 5): a real `parley-server`
 * (--relay-core, unthrottled) and two real `@parley/client` processes on LevelDB, one
 * message at a time, each waiting until the other client's timeline shows it. Each
 * client reports process.cpuUsage, read at the start and end of windows of consecutive
 * messages, so a window's CPU over its message count is that client's CPU per message:
 *
 * - by events already loaded: windows at messages 0, 500 and 2,000 (positions 0–99 of
 *   a segment at 0 and 2,000; every segment stays loaded in both clients);
 * - by position in a segment (SEGMENT_SIZE events each): messages 900–999 (the end of
 *   the first segment) against 1,000–1,099 (the start of the second), about as many
 *   events loaded in both.
 *
 * Two patterns: one-way (alice sends, bob receives: the sender's and the receiver's CPU
 * apart) and alternating (alice and bob take turns, as in a conversation: every change
 * depends on the other writer's last one, the history Automerge's cost grows with; the
 * figure is both clients' CPU together per message).
 */
import { SEGMENT_SIZE } from '@parley/core'
import { SignJWT } from 'jose'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { QUICK } from './lib/args.ts'
import { forkWorker, freePort, nextMessage, spawnServer, stop, withTimeout } from './lib/processes.ts'
import { renderTable, writeResults } from './lib/results.ts'
import { parleyRelayCore } from './latency/systems/parley.ts'

const SECRET = 'benchmark-secret-not-for-production'
const WORKER = fileURLToPath(new URL('./client-cost/worker.ts', import.meta.url))
const TIMEOUT_MS = 15_000
/** Messages per measured window; --quick measures shorter windows at the same places. */
const WINDOW = QUICK ? 40 : 100
const WINDOWS = [0, 500, SEGMENT_SIZE - WINDOW, SEGMENT_SIZE, 2 * SEGMENT_SIZE].map(start => ({ start, end: start + WINDOW }))
/** Messages sent in a separate conversation before the measured one starts. */
const WARMUP = QUICK ? 100 : 300
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
 * window, or with --quick in bursts of FILL_BURST from one writer at a time (alternating
 * writers take turns by burst), each burst shown to the other client before the next.
 */
async function fill(pattern: Pattern, alice: ChildProcess, bob: ChildProcess, from: number, to: number): Promise<number> {
  const step = QUICK ? FILL_BURST : 1
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
  const { command, args } = parleyRelayCore.serverCommand(port, join(dataDir, 'server'), SECRET)
  let server: ChildProcess | undefined
  const workers: ChildProcess[] = []
  try {
    server = await spawnServer(command, args)
    const url = `ws://127.0.0.1:${port}/sync`
    const alice = forkWorker(WORKER, [url, await token('alice'), join(dataDir, 'alice')])
    const bob = forkWorker(WORKER, [url, await token('bob'), join(dataDir, 'bob')])
    workers.push(alice, bob)
    await withTimeout(Promise.all([nextMessage(alice, 'connected'), nextMessage(bob, 'connected')]), 'clients to start', TIMEOUT_MS)
    // Warm-up in a conversation of its own, so the measured one starts empty with the code already compiled.
    await startConversation(alice, bob)
    await fill(pattern, alice, bob, 0, WARMUP)
    await startConversation(alice, bob)

    const results: WindowResult[] = []
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
    for (const worker of workers) worker.send({ type: 'close' })
    return results
  } finally {
    await Promise.all([...workers.map(stop), stop(server)])
    await rm(dataDir, { recursive: true, force: true })
  }
}

const fixed = (value: number) => value.toFixed(2)
const position = (start: number, end: number) => `${start % SEGMENT_SIZE}–${((end - 1) % SEGMENT_SIZE)}`
const data = {} as Record<Pattern, WindowResult[]>
for (const pattern of PATTERNS) {
  process.stderr.write(`client-cost: ${pattern}, ${WINDOWS.at(-1)!.end} messages, windows of ${WINDOW}…\n`)
  data[pattern] = await run(pattern)
}

const oneWay = renderTable({
  headers: ['messages', 'events loaded', 'segment positions', 'sender CPU ms/msg', 'receiver CPU ms/msg', 'wall ms/msg'],
  rows: data['one-way'].map(w => [`${w.start}–${w.end - 1}`, `~${w.start}`, position(w.start, w.end), fixed(w.aliceMs), fixed(w.bobMs), fixed(w.roundMs)]),
})
const alternating = renderTable({
  headers: ['messages', 'events loaded', 'segment positions', 'both clients CPU ms/msg', 'alice', 'bob', 'wall ms/msg'],
  rows: data.alternating.map(w => [`${w.start}–${w.end - 1}`, `~${w.start}`, position(w.start, w.end), fixed(w.aliceMs + w.bobMs), fixed(w.aliceMs), fixed(w.bobMs), fixed(w.roundMs)]),
})
const at = (pattern: Pattern, start: number) => data[pattern].find(w => w.start === start)!
const both = (w: WindowResult) => w.aliceMs + w.bobMs
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`
const late = SEGMENT_SIZE - WINDOW
const ratios = [
  `- One-way, ~2,000 events loaded vs ~0 (both at positions 0–${WINDOW - 1}): sender ${ratio(at('one-way', 2 * SEGMENT_SIZE).aliceMs, at('one-way', 0).aliceMs)}, receiver ${ratio(at('one-way', 2 * SEGMENT_SIZE).bobMs, at('one-way', 0).bobMs)}; ~500 vs ~0: sender ${ratio(at('one-way', 500).aliceMs, at('one-way', 0).aliceMs)}, receiver ${ratio(at('one-way', 500).bobMs, at('one-way', 0).bobMs)}.`,
  `- One-way, positions ${late}–${SEGMENT_SIZE - 1} vs 0–${WINDOW - 1} of the next segment (~1,000 loaded in both): sender ${ratio(at('one-way', late).aliceMs, at('one-way', SEGMENT_SIZE).aliceMs)}, receiver ${ratio(at('one-way', late).bobMs, at('one-way', SEGMENT_SIZE).bobMs)}.`,
  `- Alternating, both clients: ~2,000 loaded vs ~0 ${ratio(both(at('alternating', 2 * SEGMENT_SIZE)), both(at('alternating', 0)))}; ~500 vs ~0 ${ratio(both(at('alternating', 500)), both(at('alternating', 0)))}; positions ${late}–${SEGMENT_SIZE - 1} vs 0–${WINDOW - 1} of the next segment ${ratio(both(at('alternating', late)), both(at('alternating', SEGMENT_SIZE)))}.`,
].join('\n')

const command = `npm run bench:client-cost${QUICK ? ' -- --quick' : ''}`
console.log(`\none-way\n${oneWay}\n\nalternating\n${alternating}\n\n${ratios}\n`)
const json = await writeResults(
  'client-cost',
  command,
  { window: WINDOW, segmentSize: SEGMENT_SIZE, ...data },
  `The client library's CPU per message (process.cpuUsage in each client process, user + system, IPC orders included): a real \`parley-server --relay-core\` (unthrottled) and two \`@parley/client\` processes on LevelDB, one ~100-byte message at a time, each waiting until the other client's timeline shows it; windows of ${WINDOW} consecutive messages${QUICK ? ` (between windows, bursts of ${FILL_BURST} messages per writer)` : ''}; SEGMENT_SIZE ${SEGMENT_SIZE}; every segment stays loaded in both clients.\n\nOne-way (alice sends, bob receives):\n\n${oneWay}\n\nAlternating (alice and bob take turns; CPU of both clients per message):\n\n${alternating}\n\n${ratios}`,
)
console.log(`wrote ${json} and RESULTS.md`)
process.exit(0)
