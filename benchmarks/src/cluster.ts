/**
 * npm run bench:cluster [-- --quick]
 *
 * The targets of issue 16 (a cluster that scales out), one node beside three in the same
 * run on the same machine, every node on the relay core with PostgreSQL (cluster/nodes.ts):
 * - capacity (cluster/capacity.ts): one-to-one conversations spread by conversation, one
 *   node carrying all of them vs three nodes each holding a third; the busiest node's
 *   CPU per message and the CPU of all nodes per message;
 * - bus frames per message against the number of nodes with an interested client (1 in
 *   the capacity run, 2 across nodes, 3 in the fan-out);
 * - one-to-one latency, sender on node 1 and receiver on node 2, vs one node (three
 *   rounds of both, the median round reported);
 * - fan-out of one message to N members spread over three nodes vs one node.
 *
 * `--only capacity,latency,fanout` runs the sections named (for measuring one of them): it
 * prints their figures and leaves RESULTS.md alone, since its table needs every section.
 */
import { loadavg } from 'node:os'
import { measureCapacity, TURN_ROUNDS, type CapacityResult } from './cluster/capacity.ts'
import { measureFanout, MEMBER_WORKERS, type FanoutResult } from './cluster/fanout.ts'
import { measureLatency, type LatencyResult } from './cluster/latency.ts'
import { startServers, type Servers } from './cluster/nodes.ts'
import { QUICK, selectedSystems } from './lib/args.ts'
import { renderTable, writeResults } from './lib/results.ts'
import { round } from './lib/stats.ts'

const NODES = 3
/**
 * 1,800 warm-up messages per node, whatever the node count (cluster/capacity.ts): with 600
 * a lone node still spent about twice its steady-state CPU per message compiling.
 */
const CAPACITY = { conversations: QUICK ? 30 : 60, warmupPerNode: 1800, measured: QUICK ? 15 : 40 }
/**
 * As bench:latency's (latency.ts FULL): with 20 (quick) or 50 warm-up messages the measured
 * ones still ran while V8 compiled the path, so both setups' p50 read 1.3-2 ms high.
 */
const LATENCY = { warmup: QUICK ? 300 : 3000, measured: QUICK ? 200 : 1000, rounds: 3 }
/**
 * As the fanout benchmark's 30: with 3 (until 2026-12-06) the measured messages ran the
 * nodes' per-message path (the sender's change, the bus frame taken in) still cold, and
 * the last member read 80.7 ms on one node, 116.3 over 3; with 30, 33.1 and 55.7.
 */
const FANOUT = { warmup: 30, measured: QUICK ? 3 : 5 }
const MEMBERS = QUICK ? 300 : 1000

/** Senders and members share one IP and one benchmark user; none of the limits is measured here. */
const serverArgs = (connections: number) => ['--max-connections-per-ip', String(connections + 100), '--max-connections-per-user', String(connections + 100), '--messages-per-second', '100000', '--message-burst', '100000']

async function withServers<T>(count: number, args: string[], run: (servers: Servers) => Promise<T>): Promise<T> {
  const servers = await startServers(count, count > 1, args)
  try {
    return await run(servers)
  } finally {
    await servers.close()
  }
}

const started = performance.now()
const loadBefore = loadavg()[0]!
const log = (text: string) => process.stderr.write(`cluster: ${text}…\n`)

const SECTIONS = ['capacity', 'latency', 'fanout'] as const
const sections = selectedSystems(SECTIONS)
if (sections.length === 0) throw new Error(`--only takes a comma-separated list of ${SECTIONS.join(', ')}`)
/** With `--only` nothing is written, even when it names every section (as the other benchmarks' `--only`). */
const partial = process.argv.includes('--only')

/** What failed, said in the section instead of losing every other figure with it. */
const failures: string[] = []
async function attempt<T>(what: string, run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run()
  } catch (error) {
    failures.push(`${what}: ${(error as Error).message}`)
    log(`${what} failed (${(error as Error).message})`)
    return undefined
  }
}

async function capacity(): Promise<{ single: CapacityResult; share: CapacityResult; spread: CapacityResult }> {
  log(`capacity, ${CAPACITY.conversations} conversations on one node`)
  const capacityArgs = serverArgs(CAPACITY.conversations * 2)
  const single: CapacityResult = await withServers(1, capacityArgs, ({ nodes }) => measureCapacity(nodes, CAPACITY, false))
  // A node's share without a cluster: what a round's fixed costs come to per message when
  // a round brings a node a third as many messages, before the bus adds anything.
  log(`capacity, a third of them on one node alone`)
  const share: CapacityResult = await withServers(1, capacityArgs, ({ nodes }) => measureCapacity(nodes, { ...CAPACITY, conversations: CAPACITY.conversations / NODES }, false))
  log(`capacity, a third of them on each of ${NODES} nodes`)
  const spread: CapacityResult = await withServers(NODES, capacityArgs, ({ nodes }) => measureCapacity(nodes, CAPACITY, true))
  log(`capacity: one node ${single.alone.busiestCpuMsPerMessage} ms/msg, with a third of them ${share.alone.busiestCpuMsPerMessage}; ${NODES} nodes alone ${spread.alone.nodeCpuMsPerMessage.join(' / ')}, all at once ${spread.together.nodeCpuMsPerMessage.join(' / ')}`)
  return { single, share, spread }
}

interface LatencyRound {
  readonly alone: LatencyResult | undefined
  readonly across: LatencyResult | undefined
}

/** The cross-node p50 minus the one-node p50 of a round, in ms. */
const latencyGap = ({ alone, across }: LatencyRound) => (alone && across ? round(across.latency.p50 - alone.latency.p50, 2) : undefined)

/**
 * One node, then across nodes, LATENCY.rounds times, on fresh servers each time: the
 * machine's load drifts over a run by more than the 1 ms the target allows, so each round
 * compares two setups measured a few seconds apart, and the round with the median gap
 * stands for the run (every round's gap is listed beside it).
 */
async function latency(): Promise<LatencyRound & { gaps: number[] }> {
  const rounds: LatencyRound[] = []
  for (let i = 1; i <= LATENCY.rounds; i++) {
    log(`latency, round ${i} of ${LATENCY.rounds}: one node (${LATENCY.measured} messages), then sender on node 1 and receiver on node 2`)
    const alone = await attempt('latency, one node', () => withServers(1, [], ({ nodes }) => measureLatency(nodes[0]!, nodes[0]!, nodes, LATENCY, false)))
    const across = await attempt('latency, node 1 → node 2', () => withServers(NODES, [], ({ nodes }) => measureLatency(nodes[0]!, nodes[1]!, nodes, LATENCY, true)))
    const p = (result: LatencyResult | undefined) => (result ? `p50 ${result.latency.p50} / p90 ${result.latency.p90} / p99 ${result.latency.p99} ms` : 'not measured')
    const gap = latencyGap({ alone, across })
    log(`latency, round ${i}: one node ${p(alone)}; across nodes ${p(across)}${gap === undefined ? '' : ` (p50 +${gap} ms)`}`)
    rounds.push({ alone, across })
  }
  const measured = rounds.filter(item => latencyGap(item) !== undefined).sort((a, b) => latencyGap(a)! - latencyGap(b)!)
  const gaps = measured.map(item => latencyGap(item)!)
  return { ...(measured[Math.floor((measured.length - 1) / 2)] ?? rounds[0]!), gaps }
}

async function fanout(): Promise<{ alone: FanoutResult | undefined; spread: FanoutResult | undefined }> {
  log(`fan-out to ${MEMBERS} members, one node`)
  const alone = await attempt('fan-out, one node', () => withServers(1, serverArgs(MEMBERS), ({ nodes }) => measureFanout(nodes, MEMBERS, FANOUT, false)))
  log(`fan-out to ${MEMBERS} members over ${NODES} nodes`)
  const spread = await attempt(`fan-out, ${NODES} nodes`, () => withServers(NODES, serverArgs(MEMBERS), ({ nodes }) => measureFanout(nodes, MEMBERS, FANOUT, true)))
  log(`fan-out: last member ${alone?.lastMemberMs ?? '–'} ms on one node, ${spread?.lastMemberMs ?? '–'} ms over ${NODES} nodes; server CPU per message ${alone?.serversCpuMsPerMessage ?? '–'} ms, ${spread?.serversCpuMsPerMessage ?? '–'} ms (all nodes: ${spread?.nodeCpuMsPerMessage.join(' / ') ?? '–'})`)
  return { alone, spread }
}

if (partial) {
  if (sections.includes('capacity')) await capacity()
  if (sections.includes('latency')) await latency()
  if (sections.includes('fanout')) await fanout()
  for (const failure of failures) log(`not measured: ${failure}`)
  log(`--only ${sections.join(',')}: RESULTS.md left as it is; took ${Math.round((performance.now() - started) / 1000)} s`)
  process.exit(0)
}

const { single, share, spread } = await capacity()

const { alone: latencyAlone, across: latencyAcross, gaps: latencyGaps } = await latency()
const { alone: fanoutAlone, spread: fanoutSpread } = await fanout()

const pct = (a: number, b: number) => `${round((a / b) * 100, 0)} %`
const times = (a: number, b: number) => `${round(a / b, 2)}×`
const pass = (ok: boolean) => (ok ? 'pass' : '**fail**')
const busiestRatio = spread.alone.busiestCpuMsPerMessage / single.alone.busiestCpuMsPerMessage
const totalRatio = spread.alone.totalCpuMsPerMessage / single.alone.totalCpuMsPerMessage
const frames = [
  { setup: 'capacity: each conversation on one node', interested: 1, bus: spread.bus },
  { setup: 'one-to-one across nodes 1 and 2', interested: 2, bus: latencyAcross?.bus },
  { setup: `fan-out, members on all ${NODES} nodes`, interested: NODES, bus: fanoutSpread?.bus },
]
const NOT_MEASURED = 'not measured (below)'
const busCells = (bus: { publishedMessages: number; receivedMessages: number; changeFramesPublished: number; changeFramesReceived: number; publishedBytes: number } | undefined) =>
  bus ? [`${bus.publishedMessages} / ${bus.receivedMessages}`, `${bus.changeFramesPublished} / ${bus.changeFramesReceived}`, bus.publishedBytes] : ['–', '–', '–']
const latencyCell = (result: LatencyResult | undefined) => (result ? `${result.latency.p50} / ${result.latency.p90} / ${result.latency.p99}` : NOT_MEASURED)

const targets = renderTable({
  headers: ['target', 'one node', `${NODES} nodes`, 'measured', 'result'],
  rows: [
    ['busiest node CPU per message ≤ 40 % of one node (each node measured alone)', `${single.alone.busiestCpuMsPerMessage} ms`, `${spread.alone.busiestCpuMsPerMessage} ms`, pct(spread.alone.busiestCpuMsPerMessage, single.alone.busiestCpuMsPerMessage), pass(busiestRatio <= 0.4)],
    ['CPU per message, all nodes ≤ 1.3× one node (each node measured alone)', `${single.alone.totalCpuMsPerMessage} ms`, `${spread.alone.totalCpuMsPerMessage} ms`, times(spread.alone.totalCpuMsPerMessage, single.alone.totalCpuMsPerMessage), pass(totalRatio <= 1.3)],
    ...frames.map(({ setup, interested, bus }) => [`bus frames published per message ≤ ${interested} (${setup})`, '–', bus ? `${bus.publishedMessages}` : NOT_MEASURED, bus ? `${bus.publishedMessages} ≤ ${interested}` : '–', bus ? pass(bus.publishedMessages <= interested) : NOT_MEASURED]),
    latencyAlone && latencyAcross
      ? ['one-to-one p50 across nodes ≤ one node p50 + 1 ms', `${latencyAlone.latency.p50} ms`, `${latencyAcross.latency.p50} ms`, `+${round(latencyAcross.latency.p50 - latencyAlone.latency.p50, 2)} ms`, pass(latencyAcross.latency.p50 <= latencyAlone.latency.p50 + 1)]
      : ['one-to-one p50 across nodes ≤ one node p50 + 1 ms', latencyAlone ? `${latencyAlone.latency.p50} ms` : NOT_MEASURED, latencyAcross ? `${latencyAcross.latency.p50} ms` : NOT_MEASURED, '–', NOT_MEASURED],
    fanoutAlone && fanoutSpread
      ? [`fan-out to ${MEMBERS}, last member (median) ≤ one node`, `${fanoutAlone.lastMemberMs} ms`, `${fanoutSpread.lastMemberMs} ms`, times(fanoutSpread.lastMemberMs, fanoutAlone.lastMemberMs), pass(fanoutSpread.lastMemberMs <= fanoutAlone.lastMemberMs)]
      : [`fan-out to ${MEMBERS}, last member (median) ≤ one node`, fanoutAlone ? `${fanoutAlone.lastMemberMs} ms` : NOT_MEASURED, fanoutSpread ? `${fanoutSpread.lastMemberMs} ms` : NOT_MEASURED, '–', NOT_MEASURED],
  ],
})
const details = renderTable({
  headers: ['run', 'setup', 'CPU ms/msg per node', 'latency p50 / p90 / p99 ms', 'bus frames published / received per msg', 'change-bus frames published / received per msg', 'bus bytes published per msg'],
  rows: [
    ['capacity', 'one node', `${single.together.nodeCpuMsPerMessage.join(' / ')} (idle: ${single.idleCpuMsPerSecond.join(' / ')} ms/s; ${single.together.measuredSeconds} s measured)`, '–', '–', '–', '–'],
    ['capacity', `one node, a third of the conversations (no bus)`, `${share.alone.busiestCpuMsPerMessage} per message of its own (${times(share.alone.busiestCpuMsPerMessage, single.alone.busiestCpuMsPerMessage)} one node's; as a share of ${NODES} nodes' messages ${round(share.alone.busiestCpuMsPerMessage / NODES, 3)}, ${pct(share.alone.busiestCpuMsPerMessage / NODES, single.alone.busiestCpuMsPerMessage)} of one node's)`, '–', '–', '–', '–'],
    ['capacity', `${NODES} nodes, each alone`, `${spread.alone.nodeCpuMsPerMessage.join(' / ')} (sum ${spread.alone.totalCpuMsPerMessage}; idle: ${spread.idleCpuMsPerSecond.join(' / ')} ms/s; ${spread.alone.measuredSeconds} s measured)`, '–', '–', '–', '–'],
    ['capacity', `${NODES} nodes, all busy at once`, `${spread.together.nodeCpuMsPerMessage.join(' / ')} (sum ${spread.together.totalCpuMsPerMessage}; ${spread.together.measuredSeconds} s measured)`, '–', ...busCells(spread.bus)],
    ['latency', 'one node', '–', latencyCell(latencyAlone), '–', '–', '–'],
    ['latency', 'node 1 → node 2', '–', latencyCell(latencyAcross), ...busCells(latencyAcross?.bus)],
    ['fan-out', 'one node', fanoutAlone ? `${fanoutAlone.serversCpuMsPerMessage} (all)` : '–', fanoutAlone ? `last member ${fanoutAlone.lastMemberMs}, p50 member ${fanoutAlone.p50MemberMs}` : NOT_MEASURED, '–', '–', '–'],
    ['fan-out', `${NODES} nodes`, fanoutSpread ? `${fanoutSpread.serversCpuMsPerMessage} (all)` : '–', fanoutSpread ? `last member ${fanoutSpread.lastMemberMs}, p50 member ${fanoutSpread.p50MemberMs}` : NOT_MEASURED, ...busCells(fanoutSpread?.bus)],
  ],
})
const notes = [
  `- Every node: \`parley-server --postgres <its setup's own database> --relay-core\`, with \`--redis\` in the ${NODES}-node setups (one throwaway redis-server, heartbeats every 1 s); each setup starts fresh nodes and a fresh database, dropped after it. Every process on one 2-core machine: nodes, PostgreSQL, Redis and the load generators take turns on the same cores. One-minute load average ${loadBefore.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end (above 2, figures include waiting for a core; CPU per message counts CPU time, not waiting).`,
  `- Capacity: ${CAPACITY.conversations} one-to-one conversations, each with a sender and a receiver (lightweight Automerge peers) on the node that holds it, conversation i on node i mod N. Warm-up: ${CAPACITY.warmupPerNode} messages per node, whatever the node count (${single.warmupRounds} rounds into every conversation on one node, ${spread.warmupRounds} on ${NODES}), so that each node's hot code is compiled before anything is measured. Then ${CAPACITY.measured} rounds of one ~100-byte message into every conversation at once (${spread.messages} messages), the next round once every receiver has the last; on ${NODES} nodes, then ${CAPACITY.measured} rounds into each node's conversations alone, the other nodes idle, the nodes taking turns of ${TURN_ROUNDS} rounds, each turn measured from idle to idle as the lone node's rounds are (a node left idle for about 8 s loses its compiled code to V8's idle-time GCs and pays for compiling it again, which one node measured right after its warm-up does not; turns of one round, as until 2026-12-07, charged each round what a measurement costs whatever it carries and read each node at 62–67 % of the lone node). CPU from /proc schedstat of the node processes, divided by every message of the cluster's ${CAPACITY.measured} rounds: the busiest node's share is the capacity figure (a third is the ideal). The row "one node, a third of the conversations" runs one node without a bus on ${CAPACITY.conversations / NODES} of them, as one of the ${NODES} nodes carries: each round brings it a third as many messages, so what a round costs whatever it carries (waking up, the database round trips, the writes' hand-offs) is shared by a third as many; its CPU per message of its own, divided by ${NODES}, is the best the busiest ${NODES}-node figure can read here before the bus adds anything. It includes what a node spends idle (heartbeats, the webhook and PostgreSQL polls: "idle", read over 2 s before the run) times the measured seconds; nothing is subtracted.`,
  `- Why the targets read each node alone: this machine has 2 cores, and with every node busy at once ${NODES} node processes, PostgreSQL, Redis and the load generator take turns on them, so each node's CPU time per message grows with preemption and cold caches, not with work it does (measured on one node carrying all the conversations while the other two idle, and on ${NODES} nodes without Redis: docs/cluster.md, "Performance"). Each node alone is how a node with a core of its own runs; the figures with every node busy at once are in the second table.`,
  `- Bus frames: frames each node published to Redis (both buses, heartbeats aside), summed over the nodes, per message; "received" counts deliveries to nodes. The nodes with an interested client: in the capacity run the sender's and receiver's node is one node, so frames published there reach no other node; across nodes two; in the fan-out all ${NODES}.`,
  `- Latency: the latency benchmark's sender and receiver (\`@parley/client\`, one process each), ${LATENCY.warmup} warm-up then ${LATENCY.measured} measured, one at a time; one-way times from CLOCK_MONOTONIC stamps. ${LATENCY.rounds} rounds of one node then ${NODES} nodes, fresh servers each time; the rows are the round with the median gap between them (p50 across minus one node, every round: ${latencyGaps.map(gap => `+${gap}`).join(', ') || 'none measured'} ms).`,
  `- Fan-out: the fanout benchmark's lightweight members in ${MEMBER_WORKERS} worker processes (with ${NODES} nodes worker i connects to node i); sender and group on node 1; ${FANOUT.warmup} warm-up then ${FANOUT.measured} measured messages, the next once every process is idle; medians. Server CPU per message counts each node's CPU while the run waits for every process to go idle after a message, idle time included (each node's heartbeats and polls: the capacity rows' idle figures).${QUICK ? ` \`--quick\`: ${MEMBERS} members instead of 1,000.` : ''}`,
  ...failures.map(failure => `- Not measured: ${failure}.`),
].join('\n')
const took = `took ${Math.round((performance.now() - started) / 1000)} s`
const markdown = `Issue 16's targets: one node on PostgreSQL beside ${NODES} nodes on PostgreSQL and Redis, segments on the relay core.\n\n${targets}\n\n${details}\n\n${notes}\n- ${took}.`
console.log(`\n${markdown}`)
const command = `npm run bench:cluster${QUICK ? ' -- --quick' : ''}`
const json = await writeResults('cluster', command, { capacity: { single, share, spread }, latency: { single: latencyAlone, across: latencyAcross, gaps: latencyGaps }, fanout: { members: MEMBERS, single: fanoutAlone, spread: fanoutSpread } }, markdown)
console.log(`wrote ${json} and RESULTS.md`)
process.exit(0)
